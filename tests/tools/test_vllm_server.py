"""The vLLM supervisor's failure paths, against a stand-in server process (fake_vllm_server.py):
each failure is one `EngineFailed` naming the cause and `lai resume`, and no process is left."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lai.agents.evaluator import Evaluator
from lai.tools.generation import GenerationConfig, VLLMBackend
from lai.tools.vllm_server import LAUNCHER, EngineFailed, VLLMServer, lora_rank

FAKE = Path(__file__).with_name("fake_vllm_server.py")


def fake_server(tmp_path: Path, mode: str, **kwargs) -> VLLMServer:
    return VLLMServer([sys.executable, str(LAUNCHER), str(FAKE), mode], tmp_path / "server.log",
                      start_timeout_s=kwargs.pop("start_timeout_s", 30), **kwargs)


def engine_pid(server: VLLMServer) -> int:
    for _ in range(50):
        for line in server.log_path.read_text().splitlines():
            if line.startswith("engine pid "):
                return int(line.split()[-1])
        time.sleep(0.1)
    raise AssertionError("the stand-in server printed no engine pid")


def gone(pid: int, within_s: float = 10.0) -> bool:
    """The process ended (a zombie counts: in a container nobody may reap an orphan)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.2)
    return False


class Tokenizer:
    """Renders a conversation as its words; one token per character."""

    def apply_chat_template(self, conversation, tokenize=False, add_generation_prompt=True):
        return " ".join(m["content"] for m in conversation) + " >"

    def __call__(self, text, add_special_tokens=False):
        return type("Encoded", (), {"input_ids": [ord(c) for c in text]})()


def test_answers_in_order_and_serves_adapters(tmp_path):
    adapters = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text('{"r": 8}')
        (tmp_path / name / "adapter_model.safetensors").write_text("weights")
        adapters.append(tmp_path / name)
    server = fake_server(tmp_path, "ok").start()
    try:
        assert server.start_seconds > 0
        conversations = [[{"role": "user", "content": "x" * n}] for n in (5, 1, 30, 2)]
        done = []
        backend = VLLMBackend(server, "target", Tokenizer(), GenerationConfig(batch_size=3))
        replies = backend.generate(conversations, done.append)
        assert replies == [f"echo {n + 2} via target" for n in (5, 1, 30, 2)]  # stripped, in order
        assert sum(done) == 4
        first = server.adapter(adapters[0])
        assert server.adapter(adapters[0]) == first  # loaded once
        second = server.adapter(adapters[1])  # unloads the first
        assert VLLMBackend(server, second, Tokenizer(), GenerationConfig()).generate(
            conversations[:1]) == [f"echo 7 via {second}"]
        with pytest.raises(EngineFailed, match="does not exist"):
            VLLMBackend(server, first, Tokenizer(), GenerationConfig()).generate(conversations[:1])
        with pytest.raises(Exception, match="not a LoRA adapter"):
            server.adapter(tmp_path)
    finally:
        server.stop()
    assert gone(engine_pid(server))  # stop takes the engine (the process group) down too


def test_port_taken(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        server = fake_server(tmp_path, "ok", port=port)
        with pytest.raises(EngineFailed, match=f"generation.vllm_port {port} on 127.0.0.1 is taken"):
            server.start()
    assert server.proc is None  # nothing was started


def test_port_taken_while_starting(tmp_path):
    with pytest.raises(EngineFailed, match=r"exited while starting \(exit code 1\); port \d+ was "
                                           r"taken before it could listen"):
        fake_server(tmp_path, "port-taken").start()


def test_engine_exits_at_start(tmp_path):
    server = fake_server(tmp_path, "exit")
    with pytest.raises(EngineFailed) as err:
        server.start()
    message = str(err.value)
    assert "exited while starting (exit code 1)" in message
    assert "lai resume" in message and "Engine core initialization failed" in message  # the log's end
    assert "out of memory" not in message
    assert gone(engine_pid(server))


def test_out_of_memory_at_start(tmp_path):
    with pytest.raises(EngineFailed, match="it ran out of memory: lower generation.vllm_kv_cache_gib"):
        fake_server(tmp_path, "oom").start()


def test_health_check_fails(tmp_path):
    server = fake_server(tmp_path, "unhealthy", start_timeout_s=3)
    started = time.monotonic()
    with pytest.raises(EngineFailed, match=r"did not pass its health check .*/health\) within 3 s "
                                           r"\(generation.vllm_start_timeout_s\)"):
        server.start()
    assert time.monotonic() - started < 20
    assert server.proc.poll() is not None  # stopped, not left running
    assert gone(engine_pid(server))


def test_crash_mid_evaluation_writes_nothing(tmp_path):
    class Task:  # the evaluator's use of a task, enough to reach the backend
        name, version = "t", 1

        def prompt(self, item):
            return [{"role": "user", "content": item["question"]}]

    server = fake_server(tmp_path, "crash").start()
    items = [{"id": str(i), "question": f"q{i}", "target": "1"} for i in range(8)]
    backend = VLLMBackend(server, "target", Tokenizer(), GenerationConfig(batch_size=2))
    out = tmp_path / "eval.jsonl"
    try:
        with pytest.raises(EngineFailed, match=r"(?s)exited (during|before) the request to "
                                               r"/v1/completions \(exit code 1\);.*lai resume.*"
                                               r"EngineCore encountered"):
            Evaluator(Task(), backend, GenerationConfig()).run(items, "validation", out)
    finally:
        server.stop()
    assert not out.exists() and not out.with_suffix(".summary.json").exists()


def test_server_group_dies_with_lai(tmp_path):
    """`kill -9` of the process that started the server takes server and engine down."""
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_vllm_server import fake_server
        from pathlib import Path
        server = fake_server(Path({str(tmp_path)!r}), "ok").start()
        print(server.proc.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    server_pid = int(parent.stdout.readline())
    engine = int((tmp_path / "server.log").read_text().split("engine pid ")[1].split()[0])
    parent.kill()
    parent.wait()
    assert gone(server_pid) and gone(engine)


def test_lora_rank():
    assert [lora_rank(r) for r in (1, 2, 16, 17, 512)] == [1, 8, 16, 32, 512]
    with pytest.raises(Exception, match="above vLLM's largest"):
        lora_rank(513)
