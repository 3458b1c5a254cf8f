"""`TrainConfig`: the `train:` section of the run config (LoRA SFT hyperparameters)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator, model_validator


def _hint(cls, info) -> str:
    """The fix to suggest: the field's default as a --set override."""
    return f" (try --set train.{info.field_name}={cls.model_fields[info.field_name].default})"


class TrainConfig(BaseModel):
    """LoRA SFT settings. Defaults suit a ~100M-1B target trained on a few hundred samples per round."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    lora_r: int = 16
    """LoRA rank: the adapter's width per adapted matrix."""
    lora_alpha: int = 32
    """LoRA scale numerator; the update is scaled by lora_alpha / lora_r."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA input, 0 to disable."""
    target_modules: str | list[str] = "all-linear"
    """Modules that get adapters: `all-linear` or a list of module names (e.g. ["q_proj", "v_proj"])."""
    learning_rate: float = 2e-4
    """Peak AdamW learning rate (LoRA wants ~10x a full fine-tune's)."""
    epochs: float = 1
    """Passes over the round's training file."""
    min_steps: int = 100
    """Optimizer steps a round trains at least (more passes over a small file); 0 = just `epochs`."""
    batch_size: int = 8
    """Samples per device per step."""
    grad_accum: int = 1
    """Steps accumulated per optimizer update (effective batch = batch_size * grad_accum)."""
    max_length: int = 384
    """Tokens per sample (prompt + completion); longer samples are cut at the end."""
    warmup_ratio: float = 0.05
    """Fraction of the optimizer steps spent warming up the learning rate linearly from 0."""
    weight_decay: float = 0.0
    """AdamW weight decay on the adapter weights."""
    lr_scheduler: str = "cosine"
    """transformers scheduler name: `cosine`, `linear`, `constant_with_warmup`, ..."""
    replay_fraction: float = 0.3
    """Share of earlier rounds' kept samples mixed into this round's training file (read by the caller), 0 to 1."""
    seed: int = 0
    """Seed for LoRA init and data order."""
    bf16: bool | None = None
    """bf16 mixed precision; None = on where the hardware runs bf16 natively (see `best_dtype`)."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward to save memory; slower, only worth it on big targets."""
    log_every: int = 5
    """Optimizer steps between progress records."""
    checkpoint_every: int = 10
    """Optimizer steps between training checkpoints, so a killed run resumes mid-epoch instead of
    restarting the round's training; 0 = no checkpoints."""

    @field_validator("lora_r", "lora_alpha", "batch_size", "grad_accum", "max_length", "log_every")
    @classmethod
    def _positive_int(cls, v: int, info) -> int:
        if v <= 0:
            raise ValueError(f"`train.{info.field_name}` must be > 0, got {v}{_hint(cls, info)}")
        return v

    @field_validator("learning_rate", "epochs")
    @classmethod
    def _positive(cls, v: float, info) -> float:
        if not v > 0:
            raise ValueError(f"`train.{info.field_name}` must be > 0, got {v}{_hint(cls, info)}")
        return v

    @field_validator("lora_dropout", "warmup_ratio")
    @classmethod
    def _fraction_below_one(cls, v: float, info) -> float:
        if not 0 <= v < 1:
            raise ValueError(f"`train.{info.field_name}` must be in [0, 1), got {v}{_hint(cls, info)}")
        return v

    @field_validator("replay_fraction")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise ValueError(f"`train.replay_fraction` must be in [0, 1], got {v}")
        return v

    @field_validator("weight_decay", "min_steps")
    @classmethod
    def _non_negative(cls, v: float, info) -> float:
        if v < 0:
            raise ValueError(f"`train.{info.field_name}` must be >= 0, got {v}")
        return v

    @model_validator(mode="after")
    def _modules(self) -> "TrainConfig":
        if isinstance(self.target_modules, list) and not self.target_modules:
            raise ValueError("`train.target_modules` is empty; use `all-linear` or list module names")
        return self
