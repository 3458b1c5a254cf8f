import pytest

from lai.graph.config import load_config
from lai.tools.errors import LaiError


def test_defaults_are_the_embedded_default():
    cfg = load_config()
    assert cfg.target.model == "smollm2-135m-instruct" and cfg.task.name == "arith"
    assert cfg.roles.resolve("analyst").model == "offline:arith"


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("loop:\n  max_iterations: 4\ninstruct:\n  strategy: lec\n")
    cfg = load_config(path, ["instruct.k=3", "roles.analyst.model=openai:gpt-4o"])
    assert cfg.loop.max_iterations == 4 and cfg.instruct.strategy == "lec" and cfg.instruct.k == 3
    assert cfg.roles.resolve("analyst").model == "openai:gpt-4o"
    assert cfg.roles.resolve("generator").model == "offline:arith"  # inherits default


@pytest.mark.parametrize("yaml_text,needle", [
    ("loop:\n  max_iteratons: 2\n", "`loop.max_iteratons`: unknown key"),
    ("instruct:\n  strategy: bogus\n", "`instruct.strategy`"),
    ("train:\n  lora_r: 0\n", "`train.lora_r`"),
    ("loop:\n  patience: -1\n", "`loop.patience`"),
    ("- just\n- a list\n", "expected a mapping"),
    ("loop: [unclosed\n", "not valid YAML"),
    ("task:\n  name: gsm8k\n", "offline rule-based instructor"),
])
def test_bad_config_names_the_key(tmp_path, yaml_text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(LaiError) as e:
        load_config(path)
    assert needle in str(e.value)
    assert str(path) in str(e.value)


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(LaiError, match="key.path=value"):
        load_config(None, ["loop.max_iterations"])
    with pytest.raises(LaiError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_reference_doc_is_current():
    from pathlib import Path

    from lai.graph.config import config_reference

    doc = Path(__file__).parents[2] / "docs" / "config.md"
    assert doc.read_text() == config_reference(), "regenerate docs/config.md (command in its header)"


def test_role_flag_sets_a_roles_model_and_bad_ones_are_named():
    from lai.graph.cli import _flag_overrides, _parser

    args = _parser().parse_args(["run", "--role", "analyst=openai:gpt-4o", "--role", "default=openai:x"])
    cfg = load_config(None, _flag_overrides(args))
    assert cfg.roles.resolve("analyst").model == "openai:gpt-4o"
    assert cfg.roles.resolve("generator").model == "openai:x"
    assert not cfg.roles.enabled("judge")
    with pytest.raises(LaiError, match="ROLE=MODEL"):
        _flag_overrides(_parser().parse_args(["run", "--role", "analyst"]))
    with pytest.raises(LaiError, match="unknown role 'critic'"):
        load_config(None, _flag_overrides(_parser().parse_args(["run", "--role", "critic=openai:x"])))
