"""The loop as a LangGraph state machine.

    baseline → mine → select → instruct → generate → curate → train → validate → decide
                ↑                                                                  │
                └──────────────────────────── continue ─────────────────────────────┤
                                                                     stop → final_test → END
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langgraph.graph import END, START, StateGraph

from lai.graph import nodes
from lai.graph.context import Context
from lai.graph.state import LoopState

PIPELINE = ("baseline", "mine", "select", "instruct", "generate", "curate", "train", "validate",
            "decide")
_FUNCTIONS = {"curate": nodes.curate_samples}


def build_graph(ctx: Context, checkpointer: Any = None):
    """Compile the loop with its nodes bound to `ctx`; the caller picks the checkpointer."""
    builder = StateGraph(LoopState)
    for name in PIPELINE + ("final_test",):
        fn = _FUNCTIONS.get(name) or getattr(nodes, name)
        builder.add_node(name, partial(fn, ctx=ctx))
    builder.add_edge(START, PIPELINE[0])
    for a, b in zip(PIPELINE, PIPELINE[1:]):
        builder.add_edge(a, b)
    builder.add_conditional_edges("decide", nodes.route, {"mine": "mine", "final_test": "final_test"})
    builder.add_edge("final_test", END)
    return builder.compile(checkpointer=checkpointer)


def recursion_limit(max_iterations: int) -> int:
    """LangGraph counts node steps: about 8 a round, plus baseline and final test."""
    return 10 * (max_iterations + 2)
