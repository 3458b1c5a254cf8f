"""Every error a user can make on the command line ends cleanly: exit code 2, one message that
names the file and the place (key path or line) and says what to do, no traceback, and no
half-written run or eval folder left behind. Driven through `lai`'s `main(argv)` (and the
installed entry point in a subprocess for the traceback checks)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lai.graph import cli
from lai.graph.cli import main
from lai.graph.config import dump_config, load_config
from lai.graph.runs import write_status


def _problem(i: int) -> bytes:
    return json.dumps({"question": f"Ann has {i} apples and buys 2 more. How many now?",
                       "answer": f"{i} + 2 = {i + 2}\n#### {i + 2}"}).encode()


@pytest.fixture
def latin1_data(tmp_path) -> Path:
    """Twelve rows; line 3 is Latin-1, not UTF-8."""
    rows = [_problem(i) for i in range(12)]
    rows[2] = rows[2].replace(b"apples", "pommes café".encode("latin-1"))
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    return path


@pytest.fixture
def at(tmp_path, monkeypatch):
    """An empty current folder, no runs folder configured; returns the folder."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("LAI_RUNS_DIR", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # a client can be built; none is called
    monkeypatch.setattr(cli.console, "width", 200)  # tables unwrapped
    return work


def _lai(capsys, *argv) -> tuple[int, str]:
    """`lai ARGV`: its exit code and its output (no traceback in it), lines unwrapped."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    text = out + err
    assert "Traceback" not in text
    return rc, " ".join(text.split())


LLM_ROLE = ("--role", "default=openai:gpt-4o-mini")


# ---------------------------------------------------------------- data


def test_data_that_is_not_utf8_is_named_by_file_and_line(at, latin1_data, capsys):
    rc, out = _lai(capsys, "run", "--task", "math_jsonl", "--set", f"task.options.path={latin1_data}",
                   *LLM_ROLE, "--quiet")
    assert rc == 2 and f"{latin1_data}:3: bad row: not valid UTF-8 (byte 0xe9" in out
    assert "on_bad_row: skip" in out  # how to go on
    rc, out = _lai(capsys, "eval", "--task", "math_jsonl", "--set", f"task.options.path={latin1_data}")
    assert rc == 2 and f"{latin1_data}:3: bad row: not valid UTF-8" in out
    assert list(at.iterdir()) == []  # no runs/, no evals/


def test_skipped_rows_that_are_not_utf8_are_counted(at, latin1_data, capsys):
    """With `on_bad_row: skip` the row is counted and named; the start then fails on the missing
    model, after the run folder was made: the folder goes again."""
    skip = ("--set", f"task.options.path={latin1_data}", "--set", "task.options.on_bad_row=skip",
            "--model", str(at / "no-such-model"))
    rc, out = _lai(capsys, "run", "--task", "math_jsonl", *LLM_ROLE, "--quiet", *skip)
    assert rc == 2 and "Model path" in out and "does not exist" in out
    assert f"skipped 1 bad row(s) of {latin1_data}" in out and f"{latin1_data}:3: not valid UTF-8" in out
    rc, out = _lai(capsys, "eval", "--task", "math_jsonl", *skip)
    assert rc == 2 and f"skipped 1 bad row(s) of {latin1_data}" in out
    assert list(at.iterdir()) == [at / "runs"] and list((at / "runs").iterdir()) == []


# ---------------------------------------------------------------- config


@pytest.mark.parametrize("content,needle", [
    (None, "is a folder, not a YAML file"),
    ("", "the config file is empty"),
    ("# only a comment\n", "the config file is empty"),
    ("- a\n- list\n", "expected a mapping of sections at the top"),
    ("loop: [1\n", "not valid YAML"),
    ("loop:\n  patience: 2 # caf\xe9\n".encode("latin-1"), ":2: not valid UTF-8 (byte 0xe9 at column 20"),
])
def test_bad_config_files(at, capsys, content, needle):
    path = at / "c.yaml"
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    rc, out = _lai(capsys, "run", path)
    assert rc == 2 and str(path) in out and needle in out
    assert not (at / "runs").exists()  # an empty config does not start the default run


def test_invalid_yaml_in_set(at, capsys):
    rc, out = _lai(capsys, "run", "--set", "loop.patience=[")
    assert rc == 2 and "--set loop.patience=[: the value '[' is not valid YAML" in out
    assert "quote text" in out


@pytest.mark.parametrize("command", ["run", "eval"])
def test_unknown_task_says_did_you_mean(at, capsys, command):
    rc, out = _lai(capsys, command, "--task", "gsm8")
    assert rc == 2 and "invalid config (--task gsm8)" in out
    assert "Unknown task 'gsm8': did you mean 'gsm8k'?" in out
    assert "offline" not in out  # not blamed on the instructor


def test_header_names_the_flag_and_the_file(at, capsys):
    rc, out = _lai(capsys, "run", "--max-iterations", "0")
    assert rc == 2 and "invalid config (--max-iterations 0): `loop.max_iterations`" in out
    (at / "c.yaml").write_text("loop:\n  patience: 0\n")
    rc, out = _lai(capsys, "run", at / "c.yaml", "--set", "train.lora_r=0")
    assert rc == 2 and f"invalid config ({at / 'c.yaml'}, --set train.lora_r=0)" in out
    assert f"`loop.patience`: Input should be greater than 0 (got 0) [from {at / 'c.yaml'}]" in out
    assert "`train.lora_r`" in out and "[from --set train.lora_r=0]" in out


def test_unknown_role_and_key_suggest_the_name(at, capsys):
    rc, out = _lai(capsys, "run", "--role", "analyzt=openai:gpt-4o")
    assert rc == 2 and "unknown role 'analyzt': did you mean 'analyst'?" in out
    rc, out = _lai(capsys, "run", "--set", "roles.analyzt.model=openai:gpt-4o")
    assert rc == 2 and "`roles.analyzt`: unknown key (did you mean `roles.analyst`?" in out
    rc, out = _lai(capsys, "run", "--set", "loop.max_iteratons=2")
    assert rc == 2 and "did you mean `loop.max_iterations`?" in out


@pytest.mark.parametrize("argv,suggestion", [
    (["run", "--max-iteration", "2"], "--max-iteration (did you mean --max-iterations?)"),  # no prefixes
    (["run", "--max-iteratoins", "2"], "(did you mean --max-iterations?)"),
    (["runs", "--runs-dirr", "x"], "(did you mean --runs-dir?)"),
    (["eval", "--limt", "3"], "(did you mean --limit?)"),
])
def test_typo_in_an_option_is_refused_with_a_suggestion(at, capsys, argv, suggestion):
    rc, out = _lai(capsys, *argv)
    assert rc == 2 and f"lai {argv[0]}: error: unrecognized arguments" in out and suggestion in out
    assert f"usage: lai {argv[0]}" in out  # the command's usage, not the top level's


def test_missing_api_key_leaves_no_run(at, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    rc, out = _lai(capsys, "run", *LLM_ROLE, "--run-id", "k")
    assert rc == 2 and "needs an API key: set $OPENAI_API_KEY" in out
    assert not (at / "runs").exists()


def test_a_start_that_fails_in_an_existing_folder_keeps_it(at, capsys):
    (at / "runs" / "mine").mkdir(parents=True)
    (at / "runs" / "mine" / "notes.txt").write_text("mine")
    rc, out = _lai(capsys, "run", "--run-id", "mine", "--model", at / "nope", "--quiet")
    assert rc == 2 and (at / "runs" / "mine" / "notes.txt").exists()


# ---------------------------------------------------------------- runs


def _make_run(folder: Path, status: str | None = "interrupted") -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(dump_config(load_config()))
    if status:
        write_status(folder, status, reason="SIGINT")
    return folder


def test_folders_that_are_not_runs(at, capsys):
    runs = at / "runs"
    (runs / "scratch").mkdir(parents=True)  # no config: not a run
    _make_run(runs / "half", status=None)  # a config but never started (an older lai's leftover)
    rc, out = _lai(capsys, "runs")
    assert rc == 0 and "half" in out and "not started" in out and "scratch" not in out
    rc, out = _lai(capsys, "report", "scratch")
    assert rc == 2 and "runs/scratch is not a run folder: it has no config.yaml" in out
    rc, out = _lai(capsys, "report", runs / "half")
    assert rc == 2 and "has not started" in out and not (runs / "half" / "report.html").exists()
    rc, out = _lai(capsys, "resume", "half")
    assert rc == 2 and "has not started" in out


def test_lai_runs_dir_finds_runs_from_anywhere(at, tmp_path, capsys, monkeypatch):
    store = tmp_path / "store"
    _make_run(store / "r1")
    rc, out = _lai(capsys, "runs")
    assert rc == 0 and "no runs in runs" in out and "LAI_RUNS_DIR" in out
    monkeypatch.setenv("LAI_RUNS_DIR", str(store))
    rc, out = _lai(capsys, "runs")
    assert rc == 0 and "r1" in out and "interrupted" in out
    rc, out = _lai(capsys, "show", "r1")
    assert rc == 0 and f"continue with: lai resume r1 --runs-dir {store}" in out
    assert load_config().run.runs_dir == store  # and `lai run` writes there
    monkeypatch.delenv("LAI_RUNS_DIR")
    rc, out = _lai(capsys, "show", store / "r1")  # a run folder's path
    assert rc == 0 and f"lai resume r1 --runs-dir {store}" in out
    rc, out = _lai(capsys, "show", "r1")
    assert rc == 2 and "no run 'r1' in runs" in out and "LAI_RUNS_DIR" in out


def test_help_documents_the_environment(capsys):
    assert main(["--help"]) == 0
    assert "LAI_RUNS_DIR" in capsys.readouterr().out


# ---------------------------------------------------------------- tracebacks


def test_an_unexpected_error_is_one_line_unless_debug(at, capsys, monkeypatch):
    def boom(runs_dir):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("lai.graph.runs.list_runs", boom)
    rc, out = _lai(capsys, "runs")
    assert rc == 1 and "error: RuntimeError: disk on fire" in out and "--debug" in out
    assert main(["runs", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_through_the_entry_point(tmp_path):
    """The installed script: no traceback for a user error, one with --debug."""
    env = {**os.environ, "LAI_RUNS_DIR": str(tmp_path / "runs")}
    (tmp_path / "cfg").mkdir()
    for argv, debug in ([["run", "cfg"], False], [["run", "--set", "loop.patience=["], False],
                        [["run", "cfg", "--debug"], True]):
        p = subprocess.run([sys.executable, "-m", "lai.graph.cli", *argv], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 2, p.stdout + p.stderr
        assert ("Traceback" in p.stderr) == debug and "error:" in p.stdout
    assert not (tmp_path / "runs").exists()
