"""`lai export`: the best adapter, or the merged model, with a model card."""

import json

import pytest

torch = pytest.importorskip("torch")

from lai.graph.config import dump_config, load_config  # noqa: E402
from lai.tools.errors import LaiError  # noqa: E402
from lai.tools.jsonl import write_jsonl  # noqa: E402
from lai.graph.export import export_run  # noqa: E402
from lai.training.sft import train_lora  # noqa: E402
from tests.training.test_sft import CFG, build_tiny_model, sample  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    tiny = build_tiny_model(root / "tiny")
    run = root / "runs" / "r1"
    adapter = run / "iter_001" / "adapter"
    train_lora(CFG, tiny, write_jsonl(root / "train.jsonl", [sample(i) for i in range(4)]), adapter)
    cfg = load_config(None, [f"target.model={tiny}", "instruct.strategy=lec"])
    (run / "config.yaml").write_text(dump_config(cfg))
    history = [{"iteration": 0, "validation": 0.1, "kept_as_best": True},
               {"iteration": 1, "validation": 0.4, "errors": 9, "generated": 20, "kept": 16, "kept_as_best": True}]
    (run / "metrics.json").write_text(json.dumps({
        "run_id": "r1", "history": history, "best_iteration": 1, "best_adapter": str(adapter),
        "stop_reason": "reached max_iterations=1", "test": {"baseline": 0.1, "best": 0.35}}))
    return run


def test_export_adapter_with_model_card(run_dir, tmp_path):
    out = export_run(run_dir, tmp_path / "adapter")
    card = (out / "README.md").read_text()
    assert (out / "adapter_model.safetensors").exists() and "library_name: peft" in card
    for text in ("lec", "offline rule-based instructor", "16 samples kept", "0.100 → this model 0.350",
                 "| 1 | 0.400 | 9 | 20 | 16 | yes |"):
        assert text in card, text
    with pytest.raises(LaiError, match="not empty"):
        export_run(run_dir, out)


def test_export_merged_model_gives_the_same_outputs(run_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from lai.training.target import load_target

    out = export_run(run_dir, tmp_path / "merged", merge=True)
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    model, tok = load_target(load_config(run_dir / "config.yaml").target.model,
                             json.loads((run_dir / "metrics.json").read_text())["best_adapter"],
                             dtype=torch.float32, device="cpu", merge=False)
    ids = tok("what is one plus two ?", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, model(ids).logits, atol=1e-4)
    assert "library_name: transformers" in (out / "README.md").read_text()
