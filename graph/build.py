"""The loop as a LangGraph state machine.

    baseline → mine → select → instruct → generate → curate → train → validate → decide
                ↑                                                                  │
                └──────────────────────────── continue ─────────────────────────────┤
                                                                     stop → final_test → END
"""

from __future__ import annotations

import time
from typing import Any, Callable

from langgraph.graph import END, START, StateGraph

from lai.graph import nodes
from lai.graph.context import Context
from lai.graph.state import LoopState

PIPELINE = ("baseline", "mine", "select", "instruct", "generate", "curate", "train", "validate",
            "decide")
ROUND_NODES = PIPELINE[1:-1]
"""Skipped once a budget runs out: the round is abandoned and `decide` stops the loop."""
_FUNCTIONS = {"curate": nodes.curate_samples}


def _node(name: str, fn: Callable, ctx: Context) -> Callable:
    """`fn` bound to `ctx`, traced (start, end, counts, error), skipped when a budget is spent,
    and refused once a stop was asked for (the previous node's checkpoint is then the last)."""

    def run(state: LoopState) -> dict:
        if ctx.interrupted:
            raise KeyboardInterrupt(ctx.interrupted)
        if name in ROUND_NODES and (reason := ctx.stop_reason()):
            return {} if state.get("stop_reason") else {"stop_reason": reason}
        row = ctx.trace.node_started(name, state.get("iteration")) if ctx.trace else None
        started = time.time()
        try:
            update = fn(state, ctx=ctx)
        except BaseException as e:
            if row is not None:
                ctx.trace.node_ended(row, error=f"{type(e).__name__}: {e}")
            if ctx.tracking:
                ctx.tracking.node_finished(ctx, name, state.get("iteration"), started, None,
                                           error=f"{type(e).__name__}: {e}")
            raise
        if row is not None:
            ctx.trace.node_ended(row, counts=(update or {}).get("current"))
        if ctx.tracking:  # the node's trace in MLflow, and the metrics it produced
            ctx.tracking.node_finished(ctx, name, state.get("iteration"), started, update)
        return update

    run.__name__ = name
    return run


def build_graph(ctx: Context, checkpointer: Any = None):
    """Compile the loop with its nodes bound to `ctx`; the caller picks the checkpointer."""
    builder = StateGraph(LoopState)
    for name in PIPELINE + ("final_test",):
        fn = _FUNCTIONS.get(name) or getattr(nodes, name)
        builder.add_node(name, _node(name, fn, ctx))
    builder.add_edge(START, PIPELINE[0])
    for a, b in zip(PIPELINE, PIPELINE[1:]):
        builder.add_edge(a, b)
    builder.add_conditional_edges("decide", nodes.route, {"mine": "mine", "final_test": "final_test"})
    builder.add_edge("final_test", END)
    return builder.compile(checkpointer=checkpointer)


def recursion_limit(max_iterations: int) -> int:
    """LangGraph counts node steps: about 8 a round, plus baseline and final test."""
    return 10 * (max_iterations + 2)
