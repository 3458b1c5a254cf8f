"""Fuzzing the config loader: any file content and any `--set` override give a config or a
LaiError (the one error the CLI prints as a message), never another exception."""

from hypothesis import example, given
from hypothesis import strategies as st

from lai.graph.config import LaiConfig, load_config
from lai.tools.errors import LaiError
from tests.fuzz import FUZZ

YAML_PIECES = [
    "\n", "  ", "- ", ": ", ":", "{", "}", "[", "]", ",", "'", '"', "#", "&a ", "*a", "<<: ", "? ", "|", ">",
    "!!int ", "!!float ", "!!binary ", "!!timestamp ", "!!python/object:os.system ", "!!set ", "!!omap ", "%YAML 1.1\n",
    "---\n", "...\n", "\t", "\x00", "\ufeff", "é",
    "loop", "max_iterations", "patience", "task", "name", "options", "roles", "analyst", "model", "train",
    "lora_r", "data", "seed", "loop.max_iterations", "train.lora_r", "roles.default.model",
    "0", "2", "-1", "1e309", "0x1F", "0o17", ".inf", ".nan", "null", "~", "true", "yes", "2024-13-45",
    "2001-12-14t21:59:43.10-05:00", "0000-00-00", "2024-02-30 25:61:61", "abc", "gsm8k", "=", ".",
]
YAML_TEXT = st.lists(st.sampled_from(YAML_PIECES) | st.text(max_size=4), max_size=30).map("".join)


def _loads(**kwargs):
    try:
        assert isinstance(load_config(**kwargs), LaiConfig)
    except LaiError as e:
        assert str(e)


@FUZZ
@given(YAML_TEXT.map(str.encode) | st.binary(max_size=120))
@example(b"loop: {patience: 2024-13-45}")
@example(b"seed: !!int abc")
@example(b"seed: !!int ")
@example(b"seed: !!timestamp x")
@example(b"[" * 3000)
@example(b"a: &a [*a, *a]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b, *b]")
def test_any_config_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "config.yaml"
    path.write_bytes(data)
    _loads(path=path)


@FUZZ
@given(st.lists(st.tuples(YAML_TEXT, YAML_TEXT).map("=".join) | YAML_TEXT, max_size=3))
@example(["loop.patience=2024-13-45"])
@example(["loop.max_iterations=!!binary x"])
@example(["seed=" + "[" * 3000])
@example(["loop..patience=1"])
def test_any_overrides(overrides):
    _loads(overrides=overrides)
