"""LoRA SFT on a tiny random Llama with a word-level tokenizer: seconds on a CPU, no hub access."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from pydantic import ValidationError  # noqa: E402

from lai.tools.errors import LaiError  # noqa: E402
from lai.tools.jsonl import write_jsonl  # noqa: E402
from lai.training.config import TrainConfig  # noqa: E402
from lai.training.jobs import TrainingFailed, run_training_subprocess  # noqa: E402
from lai.training.sft import load_rows, make_trainer, train_lora  # noqa: E402

CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
WORDS = "user assistant what is one two three four five plus equals the answer say hello world".split()


def build_tiny_model(path: Path) -> Path:
    """A 2-layer, 32-wide Llama and a WordLevel ChatML tokenizer, saved like a real checkpoint."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<unk>", "<|im_start|>", "<|im_end|>"]
    vocab = {w: i for i, w in enumerate(specials + WORDS + ["?", ".", ":"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", eos_token="<|im_end|>", pad_token="<|im_end|>",
        additional_special_tokens=specials[1:],
    )
    tok.chat_template = CHATML
    tok.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        eos_token_id=vocab["<|im_end|>"], pad_token_id=vocab["<|im_end|>"], bos_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    return path


def sample(i: int) -> dict:
    a, b = WORDS[2 + i % 3], WORDS[3 + i % 4]
    return {
        "prompt": [{"role": "user", "content": f"what is {a} plus {b} ?"}],
        "completion": [{"role": "assistant", "content": f"the answer is {' '.join([b] * (1 + i % 3))} {a} ."}],
        "id": f"s{i}",  # extra keys are allowed and dropped
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def train_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "train.jsonl", [sample(i) for i in range(4)])


CFG = TrainConfig(epochs=1, min_steps=0, batch_size=2, log_every=1, learning_rate=1e-2, lora_r=4, lora_alpha=8, bf16=False)


def test_config_rejects_bad_values():
    with pytest.raises(ValidationError, match=r"`train.lora_r` must be > 0, got 0 \(try --set train.lora_r=16\)"):
        TrainConfig(lora_r=0)
    with pytest.raises(ValidationError, match="replay_fraction"):
        TrainConfig(replay_fraction=1.5)
    with pytest.raises(ValidationError, match="Extra inputs"):
        TrainConfig(lora_rank=8)
    assert TrainConfig.model_fields["lora_r"].description  # attribute docstrings are picked up


def test_load_rows_names_bad_row(tmp_path):
    write_jsonl(tmp_path / "bad.jsonl", [sample(0), {"prompt": "hi", "completion": []}])
    with pytest.raises(LaiError, match="row 2: `prompt`"):
        load_rows(tmp_path / "bad.jsonl")
    with pytest.raises(LaiError, match="does not exist"):
        load_rows(tmp_path / "missing.jsonl")


def test_only_completion_tokens_carry_loss(tiny, train_file, tmp_path):
    trainer = make_trainer(CFG, tiny, train_file, tmp_path / "adapter")
    batch = next(iter(trainer.get_train_dataloader()))
    tok = trainer.processing_class
    assert (batch["attention_mask"] == 0).any()  # replies differ in length, so the batch is padded
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"]):
        kept = [int(t) for t, lab in zip(ids, labels) if lab != -100]
        # what is trained on is exactly the reply and its end-of-turn token (padding and prompt are -100)
        assert tok.decode(kept).startswith("the answer is")
        assert kept[-1] == tok.convert_tokens_to_ids("<|im_end|>")
        first = int((labels != -100).nonzero()[0])
        assert tok.decode(ids[:first]).endswith("<|im_start|> assistant")
        assert (labels[mask == 0] == -100).all()


def test_train_changes_lora_not_base(tiny, train_file, tmp_path):
    trainer = make_trainer(CFG, tiny, train_file, tmp_path / "adapter")
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    after = dict(trainer.model.named_parameters())
    lora = [n for n in before if "lora_" in n]
    assert lora and all(after[n].requires_grad for n in lora)
    assert all(not torch.equal(before[n], after[n]) for n in lora if "lora_B" in n)
    assert all(torch.equal(before[n], after[n]) for n in before if "lora_" not in n)


def test_train_lora_saves_adapter_and_logs(tiny, train_file, tmp_path):
    out, log = tmp_path / "iter_1" / "adapter", tmp_path / "iter_1" / "train_progress.jsonl"
    summary = train_lora(CFG, tiny, train_file, out, log_path=log)
    assert summary["steps"] == 2 and summary["samples"] == 4 and summary["tokens"] > 0
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    assert not out.with_name("adapter.tmp").exists()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    steps = [r for r in records if "loss" in r and r["loss"] is not None]
    assert [r["step"] for r in steps] == [1, 2] and all(r["max_steps"] == 2 for r in steps)
    assert records[-1]["done"] and records[-1]["train_loss"] == summary["train_loss"]

    # a second round continues the same adapter
    out2 = tmp_path / "iter_2" / "adapter"
    summary2 = train_lora(CFG, tiny, train_file, out2, init_adapter=out)
    assert summary2["init_adapter"] == str(out)
    from safetensors.torch import load_file

    w1, w2 = load_file(out / "adapter_model.safetensors"), load_file(out2 / "adapter_model.safetensors")
    assert w1.keys() == w2.keys()
    assert any(not torch.equal(w1[k], w2[k]) for k in w1)
    assert json.loads((out2 / "adapter_config.json").read_text())["r"] == CFG.lora_r


def test_subprocess_reports_progress_and_failure(tiny, train_file, tmp_path):
    job = {"cfg": CFG.model_dump(), "model_path": str(tiny), "train_path": str(train_file),
           "out_dir": str(tmp_path / "adapter")}
    seen = []
    summary = run_training_subprocess(job, tmp_path / "job.json", tmp_path / "train.log", on_progress=seen.append)
    assert summary["done"] and summary["steps"] == 2
    assert [r["step"] for r in seen if r.get("loss") is not None] == [1, 2] and seen[-1] == summary

    job["train_path"] = str(tmp_path / "missing.jsonl")
    with pytest.raises(TrainingFailed, match=r"(?s)exit code 1.*missing\.jsonl does not exist"):
        run_training_subprocess(job, tmp_path / "job2.json", tmp_path / "train2.log")


@pytest.mark.slow
def test_smollm2_learns_in_a_few_steps(tmp_path):
    """The real target: 8 LoRA steps on a fixed answer format lower the loss; the adapter loads."""
    from lai.training.target import DEFAULT_MODEL, load_target, resolve_model

    path = resolve_model(DEFAULT_MODEL, Path(os.environ.get("LAI_TEST_CACHE", tmp_path)))
    rows = [
        {"prompt": [{"role": "user", "content": f"What is {a} + {b}?"}],
         "completion": [{"role": "assistant", "content": f"{a} + {b} = {a + b}.\nAnswer: {a + b}"}]}
        for a, b in [(12, 7), (30, 45), (8, 9), (61, 22), (14, 14), (5, 70), (33, 3), (90, 9)] * 2
    ]
    write_jsonl(tmp_path / "train.jsonl", rows)
    cfg = TrainConfig(epochs=2, min_steps=0, batch_size=4, log_every=1)
    seen = []
    job = {"cfg": cfg.model_dump(), "model_path": str(path), "train_path": str(tmp_path / "train.jsonl"),
           "out_dir": str(tmp_path / "adapter")}
    summary = run_training_subprocess(job, tmp_path / "job.json", tmp_path / "train.log", on_progress=seen.append)
    losses = [r["loss"] for r in seen if r.get("loss") is not None]
    print(f"SmolLM2-135M LoRA: {summary['tokens_per_s']} train tokens/s, losses {losses}")
    assert summary["steps"] == 8 and losses[-1] < losses[0]

    def completion_loss(model, tok) -> float:
        row = rows[0]
        prompt = tok.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        ids = tok(full, return_tensors="pt", add_special_tokens=False)["input_ids"]
        labels = ids.clone()
        labels[0, : len(tok(prompt, add_special_tokens=False)["input_ids"])] = -100
        with torch.no_grad():
            return model(input_ids=ids, labels=labels).loss.item()

    base_loss = completion_loss(*load_target(path, device="cpu"))
    tuned_loss = completion_loss(*load_target(path, tmp_path / "adapter", device="cpu"))
    print(f"completion loss: base {base_loss:.3f}, with adapter {tuned_loss:.3f}")
    assert tuned_loss < base_loss


def test_killed_training_resumes_from_its_checkpoint(tiny, tmp_path):
    """Interrupted after step 7 (checkpoint at 5), started again: it resumes and ends with the
    same adapter as an uninterrupted run."""
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    train = write_jsonl(tmp_path / "train.jsonl", [sample(i) for i in range(12)])
    cfg = CFG.model_copy(update={"checkpoint_every": 5, "epochs": 2, "lora_dropout": 0.1})

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 7:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_lora(cfg, tiny, train, tmp_path / "a" / "adapter", callbacks=(Kill(),))
    assert (tmp_path / "a" / "adapter.tmp" / "checkpoint-5").exists()
    resumed = train_lora(cfg, tiny, train, tmp_path / "a" / "adapter")
    straight = train_lora(cfg, tiny, train, tmp_path / "b" / "adapter")
    assert resumed["resumed_from_checkpoint"] and not straight["resumed_from_checkpoint"]
    assert resumed["steps"] == straight["steps"] == 12
    w1 = load_file(tmp_path / "a" / "adapter" / "adapter_model.safetensors")
    w2 = load_file(tmp_path / "b" / "adapter" / "adapter_model.safetensors")
    assert all(torch.allclose(w1[k], w2[k], atol=1e-6) for k in w1)
    assert not (tmp_path / "a" / "adapter.tmp").exists()

    # a different job (other data) never resumes someone else's checkpoint
    with pytest.raises(KeyboardInterrupt):
        train_lora(cfg, tiny, train, tmp_path / "c" / "adapter", callbacks=(Kill(),))
    other = write_jsonl(tmp_path / "other.jsonl", [sample(i) for i in range(1, 13)])
    assert not train_lora(cfg, tiny, other, tmp_path / "c" / "adapter")["resumed_from_checkpoint"]
