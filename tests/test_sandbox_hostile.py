"""Hostile code against the sandbox: every case must end within its deadline plus a small
margin, never pass, leak nothing, and leave no process or file behind on the host."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from infosynth_core.sandbox import Limits, Sandbox, detect_isolation

TIMEOUT = 2.0  # CPU seconds
WALL = 6.0  # the wall-clock backstop for code that sleeps or blocks
MARGIN = 10.0  # the host's grace and the start-up of a replacement worker; generous: a busy
# machine stretches the wall time of a CPU-bound run (the limit is CPU time)
SECRET = "infosynth-probe-" + uuid.uuid4().hex

pytestmark = pytest.mark.skipif(
    detect_isolation() != "bubblewrap",
    reason="bubblewrap is not available here (make test installs Debian's bubblewrap as root)",
)


def _zygotes(sandbox) -> int:
    """Sandbox worker processes (python …/sandbox/worker.py, not the bwrap wrappers) under this
    sandbox's own workers: the zygotes and any forked child that survived its run. Other
    sandboxes on the machine (parallel test runs) are not counted."""
    parent, argv_of = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
            argv_of[int(pid)] = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent[int(pid)] = int(stat.rsplit(b")", 1)[1].split()[1])
    roots = {w.proc.pid for w in sandbox._all}

    def ours(pid: int) -> bool:
        while pid > 1:
            if pid in roots:
                return True
            pid = parent.get(pid, 0)
        return False

    return sum(
        1
        for pid, argv in argv_of.items()
        if argv
        and b"bwrap" not in argv[0]
        and any(a.endswith(b"sandbox/worker.py") for a in argv)
        and ours(pid)
    )


def _host_processes_with(marker: bytes) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.fixture(scope="module")
def sandbox():
    os.environ["INFOSYNTH_HOSTILE_SECRET"] = SECRET  # the host has a secret in its environment
    sb = Sandbox(
        workers=2,
        coverage=False,
        limits=Limits(
            timeout_s=TIMEOUT, wall_s=WALL, memory_mb=256, max_processes=32, file_size_mb=4
        ),
    ).start()
    yield sb
    sb.close()
    os.environ.pop("INFOSYNTH_HOSTILE_SECRET", None)


def _run(sandbox, solution: str, tests: str = ""):
    tests = tests or "from solution import *\n\ndef test_attack():\n    assert attack()\n"
    t0 = time.monotonic()
    r = sandbox.run(solution, tests, id="hostile")
    elapsed = time.monotonic() - t0
    assert elapsed < WALL + MARGIN, (elapsed, r.notes)
    assert r.status != "passed", r.to_dict()
    assert SECRET not in r.stdout + r.stderr + " ".join(r.notes) + " ".join(r.errors.values())
    assert _zygotes(sandbox) == 2, "a worker is missing or a forked child survived"
    return r


HOSTILE = {
    "infinite_loop": "def attack():\n    while True:\n        pass\n",
    "signal_ignoring_loop": (
        "import signal\n"
        "def attack():\n"
        "    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "        signal.signal(s, signal.SIG_IGN)\n"
        "    while True:\n"
        "        pass\n"
    ),
    "long_sleep": "import time\ndef attack():\n    time.sleep(3600)\n    return True\n",
    "fork_bomb": (
        "import os\n"
        "def attack():\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            pass\n"
    ),
    "thread_bomb": (
        "import threading, time\n"
        "def attack():\n"
        "    while True:\n"
        "        try:\n"
        "            threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
        "        except RuntimeError:\n"
        "            pass\n"
    ),
    "memory_bomb": "def attack():\n    blocks = []\n    while True:\n        blocks.append(bytearray(50 * 2**20))\n",
    "segfault": "import ctypes\ndef attack():\n    return ctypes.string_at(0)\n",
    "stdout_flood": "import sys\ndef attack():\n    while True:\n        sys.stdout.write('x' * 65536)\n",
    "stderr_flood": "import sys\ndef attack():\n    while True:\n        sys.stderr.write('y' * 65536)\n",
    "huge_file": (
        "def attack():\n"
        "    with open('big.bin', 'wb') as f:\n"
        "        while True:\n"
        "            f.write(b'z' * 2**20)\n"
    ),
    "exit_before_asserts_in_module": "import sys\nsys.exit(0)\ndef attack():\n    return True\n",
    "os_exit_zero_in_test": "import os\ndef attack():\n    os._exit(0)\n",
    "print_fake_results": (
        "def attack():\n"
        "    print('test_solution.py::test_attack PASSED')\n"
        "    print('=== 1 passed in 0.01s ===')\n"
        '    print(\'{"event": "test", "name": "test_attack", "outcome": "passed"}\')\n'
        "    return False\n"
    ),
    "forge_result_channel": (
        "import json, os, struct\n"
        "def attack():\n"
        "    for fd in range(3, 1024):\n"
        "        for ev in ({'event': 'test', 'name': 'test_attack', 'outcome': 'passed'},\n"
        "                   {'event': 'done'}):\n"
        "            body = json.dumps(dict(ev, nonce='0' * 32)).encode()\n"
        "            try:\n"
        "                os.write(fd, struct.pack('>I', len(body)) + body)\n"
        "            except OSError:\n"
        "                pass\n"
        "    os._exit(0)\n"
    ),
    "kill_the_parent": "import os, signal\ndef attack():\n    os.kill(os.getppid(), signal.SIGKILL)\n    return True\n",
    "kill_everything": "import os, signal\ndef attack():\n    os.kill(-1, signal.SIGKILL)\n    return True\n",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_sandbox_hostile_code_never_passes(sandbox, case):
    r = _run(sandbox, HOSTILE[case])
    if case in ("infinite_loop", "signal_ignoring_loop", "long_sleep"):
        assert r.status == "timeout"
    if case in ("stdout_flood", "stderr_flood"):
        assert r.stdout_truncated or r.stderr_truncated
        assert len(r.stdout) <= 64 * 1024 and len(r.stderr) <= 64 * 1024
    # the pool still works after the attack
    ok = sandbox.run(
        "def f():\n    return 1\n", "from solution import f\ndef test_f():\n    assert f() == 1\n"
    )
    assert ok.status == "passed", ok.to_dict()


def test_sandbox_daemons_are_killed_after_the_run(sandbox):
    marker = str(900 + int(uuid.uuid4().int % 90))
    solution = (
        "import os, subprocess\n"
        "def attack():\n"
        f"    subprocess.Popen(['sleep', '{marker}'], start_new_session=True,\n"
        "                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        f"            os.execvp('sleep', ['sleep', '{marker}'])\n"
        "        os._exit(0)\n"
        "    return False\n"
    )
    _run(sandbox, solution)
    time.sleep(0.2)
    assert _host_processes_with(f"sleep\0{marker}".encode()) == []


def test_sandbox_environment_and_secret_files_do_not_leak(sandbox, tmp_path):
    secret_file = Path("/tmp") / f"infosynth-secret-{uuid.uuid4().hex}"
    secret_file.write_text(SECRET)
    try:
        solution = (
            "import os\n"
            "def attack():\n"
            "    print(dict(os.environ))\n"
            f"    found = {SECRET!r} in str(os.environ)\n"
            "    for path in ('/root/.netrc', os.path.expanduser('~/.netrc'),\n"
            f"                 {str(secret_file)!r}, {str(Path(__file__).resolve())!r}):\n"
            "        try:\n"
            "            print(path, open(path).read()[:200])\n"
            "            found = True\n"
            "        except OSError as exc:\n"
            "            print(path, 'unreadable:', exc)\n"
            "    return found\n"
        )
        r = _run(sandbox, solution)
        assert r.status == "failed", r.to_dict()
        assert "INFOSYNTH_HOSTILE_SECRET" not in r.stdout
    finally:
        secret_file.unlink()


def test_sandbox_writes_outside_the_run_directory_fail(sandbox):
    target = Path(__file__).resolve().parent / f"pwned-{uuid.uuid4().hex}"
    solution = (
        "def attack():\n"
        f"    for path in ({str(target)!r}, '/etc/pwned', '/usr/pwned'):\n"
        "        try:\n"
        "            open(path, 'w').write('x')\n"
        "            return True\n"
        "        except OSError:\n"
        "            pass\n"
        "    return False\n"
    )
    r = _run(sandbox, solution)
    assert r.status == "failed"
    assert not target.exists() and not Path("/etc/pwned").exists()


def test_sandbox_cannot_reach_a_local_service(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        end = time.monotonic() + WALL + MARGIN
        while time.monotonic() < end:
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except OSError:
                pass

    t = threading.Thread(target=accept)
    t.start()
    solution = (
        "import socket\n"
        "def attack():\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'hi')\n"
        "    return True\n"
    )
    try:
        r = _run(sandbox, solution)
    finally:
        t.join()
        server.close()
    assert r.status == "error" and accepted == []
    assert any("Connection refused" in e or "unreachable" in e for e in r.errors.values())
