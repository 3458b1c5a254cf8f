"""Target generation backends behind one small interface.

`HFBackend` runs batched greedy decoding with transformers on CPU or GPU: chat template,
left padding, KV cache, and batches of prompts of similar length (sorted longest first, so
padding is small and a too-large batch fails at once rather than at the end). A vLLM backend
for GPUs plugs in behind the same `generate` call.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from pydantic import BaseModel, ConfigDict, Field

Messages = list[dict[str, str]]


class GenerationConfig(BaseModel):
    """How the target answers. Recorded next to every evaluation's scores."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_new_tokens: int = Field(192, gt=0)
    """Tokens the target may write per answer."""
    batch_size: int = Field(32, gt=0)
    """Prompts decoded together (HF backend)."""
    temperature: float = Field(0.0, ge=0.0)
    """0 means greedy decoding, as the paper evaluates."""
    backend: str = "hf"
    """`hf` (transformers, CPU or GPU) or `vllm` (GPU, needs the `vllm` extra)."""


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

        texts = [
            self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
            for c in conversations
        ]
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
