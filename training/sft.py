"""LoRA SFT of the target on one round's practice samples, with TRL's `SFTTrainer` and peft.

Rows are conversational prompt/completion pairs, so TRL masks the prompt out of the loss
(labels are -100 up to where the tokenized prompt ends) and the target learns only the
assistant's reply. The orchestrator runs this module as a child process
(`lai.training.jobs.run_training_subprocess`), so a crash or OOM in training becomes a
failed node with a log, not a dead orchestrator:

    python -m lai.training.sft --job runs/<id>/iter_1/train_job.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from lai.tools.errors import LaiError
from lai.tools.jsonl import read_jsonl
from lai.training.config import TrainConfig
from lai.training.mlflow_log import mlflow_callback

def append_record(path: Path | str, record: dict[str, Any]) -> None:
    """Append one JSON line and flush it at once, for a parent process to tail."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def progress_callback(path: Path | str | None) -> Any:
    """A `TrainerCallback` writing `{step, max_steps, loss, epoch, learning_rate}` per log to `path`.

    Built here so that importing this module needs no transformers.
    """
    from transformers import TrainerCallback

    class ProgressLog(TrainerCallback):
        def write(self, step, max_steps, loss=None, epoch=0.0, learning_rate=None):
            if path:
                append_record(path, dict(step=step, max_steps=max_steps, loss=loss, epoch=epoch,
                                         learning_rate=learning_rate))

        def on_train_begin(self, args, state, control, **kwargs):
            self.write(0, state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:  # the end-of-training log has train_loss instead
                self.write(state.global_step, state.max_steps, logs["loss"], logs.get("epoch", state.epoch),
                           logs.get("learning_rate"))

    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("")
    return ProgressLog()


def load_rows(train_path: Path | str) -> list[dict[str, Any]]:
    """Read prompt/completion rows, checking their shape here rather than deep inside TRL."""
    path = Path(train_path)
    if not path.exists():
        raise LaiError(f"Training file {path} does not exist")
    rows = []
    for i, row in enumerate(read_jsonl(path), 1):
        for key, role in (("prompt", None), ("completion", "assistant")):
            msgs = row.get(key)
            if not isinstance(msgs, list) or not msgs or not all(_is_message(m) for m in msgs):
                raise LaiError(
                    f"{path}: row {i}: `{key}` must be a non-empty list of "
                    '{"role": ..., "content": "..."} messages'
                )
            if role and msgs[-1]["role"] != role:
                raise LaiError(f"{path}: row {i}: the completion must end with an assistant message")
        rows.append({"prompt": row["prompt"], "completion": row["completion"]})
    if not rows:
        raise LaiError(f"Training file {path} has no rows")
    return rows


def _is_message(m: Any) -> bool:
    return isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)


def make_trainer(
    cfg: TrainConfig,
    model_path: Path | str,
    train_path: Path | str,
    out_dir: Path | str,
    init_adapter: Path | str | None = None,
    log_path: Path | str | None = None,
    callbacks: tuple = (),
) -> Any:
    """Build the `SFTTrainer` that `train_lora` runs (split out so tests can inspect batches and weights)."""
    import datasets
    import torch
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    datasets.disable_progress_bars()
    rows = load_rows(train_path)
    cuda = torch.cuda.is_available()
    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not tok.chat_template:
        raise LaiError(f"Tokenizer of {model_path} has no chat template; conversational SFT needs one")
    # fp32 master weights; bf16 (when on) is autocast, so norms and the residual stream stay fp32.
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    peft_config = None
    if init_adapter:
        model = PeftModel.from_pretrained(model, str(init_adapter), is_trainable=True)
    else:
        peft_config = LoraConfig(
            task_type="CAUSAL_LM",
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=cfg.target_modules,
        )
    args = SFTConfig(
        output_dir=str(Path(out_dir).with_name(Path(out_dir).name + ".tmp")),
        num_train_epochs=cfg.epochs,
        max_steps=optimizer_steps(cfg, len(rows)) if cfg.min_steps else -1,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,  # transformers 5: a float < 1 is a ratio of total steps
        weight_decay=cfg.weight_decay,
        max_length=cfg.max_length,
        completion_only_loss=True,
        packing=False,
        seed=cfg.seed,
        bf16=use_bf16(cfg),
        fp16=False,
        use_cpu=not cuda,
        # TRL defaults gradient checkpointing on; transformers 5.24 renamed it activation_checkpointing.
        **{("activation_checkpointing" if "activation_checkpointing" in SFTConfig.__dataclass_fields__
            else "gradient_checkpointing"): cfg.gradient_checkpointing},
        logging_steps=cfg.log_every,
        save_strategy="steps" if cfg.checkpoint_every else "no",
        save_steps=cfg.checkpoint_every or 500,
        save_total_limit=1,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=tok,
        peft_config=peft_config,
        callbacks=[progress_callback(log_path), *callbacks],
    )
    if len(trainer.train_dataset) == 0:
        raise LaiError(f"No sample in {train_path} has a completion token within max_length={cfg.max_length}")
    return trainer


def use_bf16(cfg: TrainConfig) -> bool:
    """`cfg.bf16`, or when None: on CUDA GPUs with bf16; off on CPU (measured: ~10% faster, worse loss)."""
    import torch

    if cfg.bf16 is not None:
        return cfg.bf16
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def optimizer_steps(cfg: TrainConfig, n_rows: int) -> int:
    """Steps a round trains: `epochs` passes, but at least `min_steps` (a small round of a few
    hundred samples is otherwise too few updates to learn from)."""
    per_epoch = math.ceil(n_rows / (cfg.batch_size * cfg.grad_accum))
    return max(cfg.min_steps, math.ceil(per_epoch * cfg.epochs))


def train_lora(
    cfg: TrainConfig,
    model_path: Path | str,
    train_path: Path | str,
    out_dir: Path | str,
    init_adapter: Path | str | None = None,
    log_path: Path | str | None = None,
    callbacks: tuple = (),
) -> dict[str, Any]:
    """Train a LoRA adapter on `train_path` and save it to `out_dir`.

    Args:
        cfg: the `train:` config section.
        model_path: base model (a directory or a Hugging Face id, from `resolve_model`).
        train_path: JSONL of `{"prompt": [messages], "completion": [assistant message]}`.
        out_dir: adapter directory to write; built in `<out_dir>.tmp` and renamed at the end,
            so a failed run leaves no half adapter.
        init_adapter: an earlier round's adapter to keep training, or None for a new one.
        log_path: JSON-lines progress file (one record per `cfg.log_every` steps, then a
            final `{"done": true, ...}`), or None.
        callbacks: extra `TrainerCallback`s.

    A job killed mid-way leaves checkpoints in `<out_dir>.tmp` (every `cfg.checkpoint_every`
    steps); the same job started again resumes from the last complete one.

    Returns:
        Summary: train_loss, runtime_s, steps, samples, tokens, tokens_per_s, adapter_dir, ...
    """
    out_dir = Path(out_dir)
    tmp_dir = out_dir.with_name(out_dir.name + ".tmp")
    load_rows(train_path)  # a missing or malformed file fails here, naming the row
    fingerprint = _job_fingerprint(cfg, model_path, train_path, init_adapter)
    checkpoint = _last_complete_checkpoint(tmp_dir)
    resume = checkpoint is not None and _read(tmp_dir / "job_fingerprint") == fingerprint
    if not resume:  # a fresh start: no checkpoints of another job may leak in
        shutil.rmtree(tmp_dir, ignore_errors=True)
        tmp_dir.mkdir(parents=True)
        (tmp_dir / "job_fingerprint").write_text(fingerprint)
    try:
        trainer = make_trainer(cfg, model_path, train_path, out_dir, init_adapter, log_path, callbacks)
        steps = optimizer_steps(cfg, len(trainer.train_dataset))
        per_pass = steps * cfg.batch_size * cfg.grad_accum / max(1, len(trainer.train_dataset))
        tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"]) * per_pass
        start = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=str(checkpoint) if resume else None)
        runtime = time.perf_counter() - start
        summary = {
            "done": True,
            "train_loss": result.training_loss,
            "runtime_s": round(runtime, 2),
            "steps": result.global_step,
            "samples": len(trainer.train_dataset),
            "tokens": int(tokens),
            "tokens_per_s": round(tokens / runtime, 1) if runtime > 0 else None,
            "bf16": trainer.args.bf16,
            "device": str(trainer.args.device),
            "init_adapter": str(init_adapter) if init_adapter else None,
            "adapter_dir": str(out_dir),
        }
        summary["resumed_from_checkpoint"] = resume
        for checkpoint in tmp_dir.glob("checkpoint-*"):
            shutil.rmtree(checkpoint)
        (tmp_dir / "job_fingerprint").unlink(missing_ok=True)
        trainer.model.save_pretrained(tmp_dir)
        (tmp_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    except Exception:  # a real failure; an interrupt keeps the checkpoints to resume from
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    _replace_dir(tmp_dir, out_dir)
    if log_path:
        append_record(log_path, summary)
    return summary


def _job_fingerprint(cfg: TrainConfig, model_path, train_path, init_adapter) -> str:
    """Identity of a training job: a checkpoint is resumed only by the job that wrote it."""
    digest = hashlib.sha256(Path(train_path).read_bytes())
    digest.update(json.dumps([cfg.model_dump(mode="json"), str(model_path), str(init_adapter)]).encode())
    return digest.hexdigest()


_CHECKPOINT_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt", "adapter_model.safetensors")


def _last_complete_checkpoint(tmp_dir: Path) -> Path | None:
    """The newest checkpoint with every file written (a kill can land mid-save)."""
    done = [c for c in tmp_dir.glob("checkpoint-*")
            if c.name.split("-")[-1].isdigit() and all((c / f).exists() for f in _CHECKPOINT_FILES)]
    return max(done, key=lambda c: int(c.name.split("-")[-1]), default=None)


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def _replace_dir(src: Path, dst: Path) -> None:
    """Move `src` to `dst`, replacing an older `dst` (a re-run of the same round)."""
    if dst.exists():
        old = dst.with_name(dst.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        dst.rename(old)
        src.rename(dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        src.rename(dst)


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one training job given as a dict: `cfg` (TrainConfig fields) plus `train_lora`'s paths,
    and optionally `mlflow` (`tracking_uri`, `run_id`, `prefix`: see `mlflow_log`)."""
    required = {"model_path", "train_path", "out_dir"}
    known = required | {"cfg", "init_adapter", "log_path", "mlflow"}
    if unknown := set(job) - known:
        raise LaiError(f"Unknown training job keys {sorted(unknown)}; expected {sorted(known)}")
    if missing := required - set(job):
        raise LaiError(f"Training job lacks {sorted(missing)}")
    return train_lora(
        TrainConfig(**job.get("cfg", {})),
        model_path=job["model_path"],
        train_path=job["train_path"],
        out_dir=job["out_dir"],
        init_adapter=job.get("init_adapter"),
        log_path=job.get("log_path"),
        callbacks=(mlflow_callback(job["mlflow"]),) if job.get("mlflow") else (),
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m lai.training.sft --job job.json`: exit 0 and print the summary, or 1 and the traceback."""
    parser = argparse.ArgumentParser(prog="python -m lai.training.sft", description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, help="JSON file: {cfg, model_path, train_path, out_dir, ...}")
    ns = parser.parse_args(argv)
    try:
        job = json.loads(Path(ns.job).read_text(encoding="utf-8"))
        summary = run_job(job)
    except Exception:
        traceback.print_exc()
        sys.stdout.flush()
        return 1
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
