import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lai.tools.sandbox import PRIVATE_DIRS, SandboxLimits, _launch_plan, run_many, run_python

SMALL = SandboxLimits(timeout_s=4, cpu_s=1, memory_mb=256, max_processes=16, max_output_bytes=100_000)


def test_good_code_passes():
    r = run_python("print(sum(range(10)))")
    assert (r.ok, r.returncode, r.reason, r.stdout, r.timed_out) == (True, 0, "ok", "45\n", False)
    assert r.seconds > 0


def test_common_imports_work():
    r = run_python("import math, json, decimal, hashlib, collections, typing, re, itertools\n"
                   "print(math.gcd(12, 18), 'é'.encode('cp1252'), decimal.Decimal(1) / 4)")
    assert r.ok, r.stderr
    assert r.stdout == "6 b'\\xe9' 0.25\n"


@pytest.mark.parametrize("code, returncode, reason", [
    ("import sys; sys.exit(3)", 3, "exit code 3"),
    ("assert 1 + 1 == 3, 'bad sum'", 1, "exit code 1: AssertionError: bad sum"),
    ("def f(:\n    pass", 1, "exit code 1: SyntaxError: invalid syntax"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -9, "killed by signal 9 (SIGKILL)"),
])
def test_exit_codes(code, returncode, reason):
    r = run_python(code)
    assert (r.ok, r.returncode, r.reason) == (False, returncode, reason)


def test_traceback_names_main_py_not_the_prelude():
    r = run_python("x = 1\nraise ValueError('boom')")
    assert 'File "main.py", line 2' in r.stderr
    assert r.stderr.startswith("Traceback") and r.stderr.rstrip().endswith("ValueError: boom")


def test_stdin():
    r = run_python("import sys\nprint(sys.stdin.read().upper())", stdin="hello\n")
    assert r.stdout == "HELLO\n\n"


def test_fresh_working_directory_removed_afterwards():
    first = run_python("import os\nopen('left.txt', 'w').write('x')\nprint(os.getcwd())")
    second = run_python("import os\nprint(os.listdir('.'), os.environ['HOME'] == os.getcwd())")
    assert first.ok and second.ok
    assert not os.path.exists(first.stdout.strip())
    assert second.stdout == "['main.py'] True\n"


def test_no_api_keys_in_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    r = run_python("import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))")
    assert r.ok
    assert "sk-test-secret" not in r.stdout and r.stdout.endswith("None\n")
    snoop = run_python(f"print(open('/proc/{os.getpid()}/environ').read())")
    assert not snoop.ok and "sk-test-secret" not in snoop.stdout


@pytest.fixture
def listener():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.setblocking(False)
    yield srv
    srv.close()


def _nothing_connected(srv):
    try:
        srv.accept()
    except BlockingIOError:
        return True
    return False


HOSTILE = {
    "infinite loop": ("while True:\n    pass", {"cpu time limit", "timeout"}),
    "sleep forever": ("import time\ntime.sleep(1000)", {"timeout"}),
    "fork bomb": ("import os\nwhile True:\n    os.fork()", {"process limit"}),
    "thread bomb": ("import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(9,), daemon=True).start()",
                    {"process limit"}),
    "fork bomb that ignores errors": (  # it never ends, so the clock ends it
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        {"timeout", "cpu time limit"}),
    "big allocation": ("x = bytearray(10**10)", {"memory"}),
    "growing list": ("x = []\nwhile True:\n    x.append(' ' * 10**6)", {"memory"}),
    "huge output": ("print('x' * 10**8)", {"output too large"}),
    "kill the parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", None),
    "kill the test process": ("import os, signal\nos.kill({test_pid}, signal.SIGKILL)", None),
    "kill everything": ("import os, signal\nos.kill(-1, signal.SIGKILL)\nimport time; time.sleep(1)", None),
    "write outside": ("open({outside!r}, 'w').write('pwned')", None),
    "replace outside": ("import os\nopen('x', 'w').write('pwned')\nos.replace('x', {outside!r})", None),
    "connect to the host": ("import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)",
                            {"network"}),
    "raw socket module": ("import _socket\ns = _socket.socket(2, 1)\ns.connect(('127.0.0.1', {port}))",
                          {"network"}),
    "look up a name": ("import socket\nsocket.getaddrinfo('example.com', 80)", {"network"}),
    "fill a file": ("f = open('big', 'wb')\nwhile True:\n    f.write(bytes(2**20))", {"file size limit"}),
    "raise its limits": ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))", None),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_code_is_contained(name, tmp_path, listener):
    code, reasons = HOSTILE[name]
    outside = tmp_path / "pwned.txt"
    code = code.format(outside=str(outside), port=listener.getsockname()[1], test_pid=os.getpid())
    r = run_python(code, limits=SMALL)
    assert not r.ok and r.reason != "ok"
    if reasons:
        assert r.reason in reasons, (r.reason, r.stderr[-500:])
    assert r.seconds < SMALL.timeout_s + 5
    assert len(r.stdout) <= SMALL.max_output_bytes and len(r.stderr) <= SMALL.max_output_bytes
    # the host and this test are unharmed
    assert not outside.exists()
    assert _nothing_connected(listener)
    assert subprocess.run(["true"]).returncode == 0


needs_kernel = pytest.mark.skipif(not _launch_plan().namespaces, reason="no unshare namespaces here")


@needs_kernel
def test_ctypes_gets_past_the_hook_but_not_the_kernel(tmp_path, listener):
    """The audit hook is no boundary; the namespaces and the uid are."""
    port = listener.getsockname()[1]
    r = run_python(
        "import ctypes, os, socket\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "s = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)\n"
        f"addr = (2).to_bytes(2, 'little') + ({port}).to_bytes(2, 'big') + bytes([127, 0, 0, 1]) + bytes(8)\n"
        "print('connect', libc.connect(s, addr, 16), ctypes.get_errno())\n"
        f"print('kill', libc.kill({os.getpid()}, 9), libc.kill(os.getppid(), 9))\n"
    )
    assert r.ok, r.stderr
    assert "connect -1 101" in r.stdout  # ENETUNREACH: the namespace has no network
    assert "kill -1 -1" in r.stdout
    assert _nothing_connected(listener)
    if _launch_plan().drop_root:
        target = str(tmp_path / "x").encode()
        w = run_python(f"import ctypes\nprint(ctypes.CDLL(None).open({target!r}, 0o101, 0o644))")
        assert w.stdout == "-1\n"
        assert not (tmp_path / "x").exists()


@pytest.fixture
def host_markers():
    """One new file name in each of the host's world-writable directories; no run may create them."""
    name = f"lai-escape-{os.getpid()}-{time.monotonic_ns()}"
    paths = [Path(d, name) for d in PRIVATE_DIRS if os.path.isdir(d)]
    yield paths
    for path in paths:
        path.unlink(missing_ok=True)


def _writes(paths):
    return "; ".join(f"echo escaped > {p}" for p in paths) + "; echo escaped"


ESCAPES = {  # each would run `sh -c "echo escaped > <each marker>"`
    "subprocess": "import subprocess\nsubprocess.run(['sh', '-c', {sh!r}])",
    "os.system": "import os\nos.system({sh!r})",
    "os.popen": "import os\nos.popen({sh!r}).read()",
    "os.execv": "import os\nos.execv('/bin/sh', ['sh', '-c', {sh!r}])",
    "os.posix_spawn": "import os\nos.waitpid(os.posix_spawn('/bin/sh', ['sh', '-c', {sh!r}], {{}}), 0)",
    "fork, then exec": "import os, sys\nif os.fork() == 0:\n    os.execv('/bin/sh', ['sh', '-c', {sh!r}])\n"
                       "sys.exit(os.waitstatus_to_exitcode(os.wait()[1]))",
    "multiprocessing spawn": "import multiprocessing as mp\nif __name__ == '__main__':\n"
                             "    mp.get_context('spawn').Process(target=print).start()",
    "a fresh _posixsubprocess": "import sys\ndel sys.modules['_posixsubprocess']\nimport _posixsubprocess",
}


@pytest.mark.parametrize("route", ESCAPES)
def test_no_other_program_starts(route, host_markers):
    """A new program would run without the audit hook, so every way of starting one is refused."""
    r = run_python(ESCAPES[route].format(sh=_writes(host_markers)), limits=SMALL)
    assert (r.ok, r.reason) == (False, "subprocess refused"), r.stderr[-500:]
    assert "escaped" not in r.stdout
    assert not any(p.exists() for p in host_markers)


def test_fork_still_works():
    """A forked copy keeps the hook, so multiprocessing's fork context stays usable."""
    r = run_python("import multiprocessing as mp\n"
                   "with mp.get_context('fork').Pool(2) as pool:\n    print(pool.map(abs, [-1, -2, 3]))",
                   limits=SMALL)
    assert (r.ok, r.stdout) == (True, "[1, 2, 3]\n"), r.stderr[-500:]


@pytest.mark.skipif(not _launch_plan().private_tmp, reason="no private /tmp here")
def test_a_program_started_around_the_hook_writes_only_to_a_private_tmp(host_markers):
    """ctypes gets past the hook; the tmpfs on each world-writable directory catches the writes."""
    sh = _writes(host_markers) + "; cat " + " ".join(map(str, host_markers))
    r = run_python(f"import ctypes\nctypes.CDLL(None).system({sh.encode()!r})", limits=SMALL)
    assert r.ok, r.stderr[-500:]
    assert r.stdout == "escaped\n" * (len(host_markers) + 1)  # it ran, and its files were there
    assert not any(p.exists() for p in host_markers)


def test_no_writes_through_proc_self_fd():
    """Every descriptor the code holds (stdin is a host file; import directories after the uid drop),
    reopened for writing or as a directory to create a file in, is refused."""
    name = f"lai-escape-{time.monotonic_ns()}"
    r = run_python(
        "import os\nwritten = []\n"
        "for fd in os.listdir('/proc/self/fd'):\n"
        f"    for path in (f'/proc/self/fd/{{fd}}', f'/proc/self/fd/{{fd}}/{name}'):\n"
        "        try:\n"
        "            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND))\n"
        "            written.append(path)\n"
        "        except OSError:\n"
        "            pass\n"
        "print(written)\n")
    assert (r.ok, r.stdout) == (True, "[]\n"), r.stderr[-500:]
    assert not any(Path(d, name).exists() for d in sys.path if os.path.isdir(d))


def _processes_with_environ(entry: bytes) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if entry in f.read().split(b"\0"):
                    found.append(pid)
        except OSError:
            pass
    return found


DAEMON = (
    "import os, time\n"
    "print(os.environ['HOME'], flush=True)\n"
    "if os.fork() == 0:\n"
    "    os.setsid()\n"
    "    if os.fork() == 0:\n"
    "        null = os.open(os.devnull, os.O_RDWR)\n"
    "        for fd in (0, 1, 2):\n"
    "            os.dup2(null, fd)\n"
    "        time.sleep(60)\n"
    "    os._exit(0)\n"
    "os.wait()\n"
)


@needs_kernel
def test_a_daemon_does_not_outlive_the_run():
    """Double fork and setsid leave the process group, not the pid namespace.

    It is found by its environment: HOME is the run's own (deleted) working directory."""
    r = run_python(DAEMON, limits=SMALL)
    assert r.ok, r.stderr[-500:]
    entry = f"HOME={r.stdout.strip()}".encode()
    deadline = time.monotonic() + 5
    while (survivors := _processes_with_environ(entry)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert survivors == []


def test_run_many_keeps_input_order_and_reports_progress():
    codes = [f"import time\ntime.sleep({0.3 * (i % 3)})\nprint({i})" for i in range(6)] + ["raise SystemExit(2)"]
    seen = []
    results = run_many(codes, workers=3, progress=seen.append)
    assert [r.stdout for r in results[:6]] == [f"{i}\n" for i in range(6)]
    assert results[6].returncode == 2 and not results[6].ok
    assert seen == list(range(1, 8))


def test_run_many_runs_in_parallel():
    code = "import time\nstart = time.time()\ntime.sleep(0.5)\nprint(start, time.time())"
    results = run_many([code] * 2, workers=2)
    (s0, e0), (s1, e1) = (map(float, r.stdout.split()) for r in results)
    assert s1 < e0 and s0 < e1  # the two runs overlapped
    assert run_many([], workers=2) == []


def test_a_crashing_candidate_does_not_spoil_its_neighbours():
    codes = ["print('x' * 10**8)", "print('fine')", "import os\nwhile True:\n    os.fork()", "print('also fine')"]
    results = run_many(codes, limits=SMALL, workers=2)
    assert [r.ok for r in results] == [False, True, False, True]
    assert results[1].stdout == "fine\n" and results[3].stdout == "also fine\n"

