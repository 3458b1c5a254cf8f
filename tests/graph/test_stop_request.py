"""A stop asked for by a signal must hold even when Python swallows the KeyboardInterrupt (a
signal landing inside a `__del__`, as CI once saw): the next node boundary refuses to start."""

from types import SimpleNamespace

import pytest

from lai.graph.build import _node


def _ctx():
    return SimpleNamespace(interrupted=None, trace=None, tracking=None, stop_reason=lambda: None)


def test_a_node_runs_when_no_stop_was_asked():
    node = _node("mine", lambda state, ctx: {"mined": True}, _ctx())
    assert node({}) == {"mined": True}


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_stop_request_refuses_the_next_node():
    ctx = _ctx()
    ran = []

    class SwallowsTheInterrupt:
        def __del__(self):  # what the signal handler does; the raise is lost in __del__
            ctx.interrupted = "SIGTERM"
            raise KeyboardInterrupt("SIGTERM")

    def mine(state, ctx):
        obj = SwallowsTheInterrupt()
        del obj  # "Exception ignored in ... __del__": the node carries on and finishes
        ran.append("mine")
        return {}

    first = _node("mine", mine, ctx)
    second = _node("select", lambda state, ctx: ran.append("select") or {}, ctx)
    first({})
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        second({})
    assert ran == ["mine"]
