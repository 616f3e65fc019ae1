"""wandb on by default, nobody logged in, WANDB_MODE unset: a training run touches no network.

The project promises that wandb reaches the network only for a logged-in user who asked for
online mode (engine/tracking.py). wandb's own telemetry used to break it: every offline run
resolved wandb's API host and tried HTTPS from an export thread (issue 14). Two watchers, on a
real ``train.py`` run in a subprocess:

* a socket guard (a ``sitecustomize`` first on PYTHONPATH) that refuses and records every
  non-local name lookup and connection of the Python processes;
* strace, which also sees wandb's separate Go and Rust processes (wandb-core, wandb-symon) that
  no Python guard can. It runs wherever strace is installed; .ci/run installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from utils.testing import copy_model

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "01_perceptron"
TRAIN = ["src/train.py", "--experiment", "xor", "--epochs", "2", "--no-save-checkpoint"]

SOCKET_GUARD = '''
"""Test socket guard: refuse and record every non-local lookup or connection."""
import os
import socket

_LOG = os.environ["AIFS_SOCKET_GUARD_LOG"]
_LOCAL_NAMES = {None, "", "localhost", "::1", b"localhost"}


def _local(host):
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    return host in _LOCAL_NAMES or str(host).startswith("127.") or host == "::1"


def _refuse(what):
    with open(_LOG, "a", encoding="utf-8") as handle:
        handle.write(f"pid {os.getpid()}: {what}\\n")
    raise OSError(f"network refused by the test's socket guard: {what}")


def _checked_address(sock, address, what):
    if sock.family != socket.AF_UNIX and not _local(address[0]):
        _refuse(f"{what} {address!r}")


_getaddrinfo, _gethostbyname = socket.getaddrinfo, socket.gethostbyname
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
_sendto = socket.socket.sendto


def getaddrinfo(host, *args, **kwargs):
    if not _local(host):
        _refuse(f"getaddrinfo {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


def gethostbyname(host):
    if not _local(host):
        _refuse(f"gethostbyname {host!r}")
    return _gethostbyname(host)


def connect(self, address):
    _checked_address(self, address, "connect")
    return _connect(self, address)


def connect_ex(self, address):
    _checked_address(self, address, "connect_ex")
    return _connect_ex(self, address)


def sendto(self, data, *args):
    _checked_address(self, args[-1], "sendto")
    return _sendto(self, data, *args)


socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname
socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
'''


def _user_env(tmp_path: Path) -> dict[str, str]:
    """A new user's environment: wandb on (no WANDB_MODE), not logged in, a fresh home."""
    env = dict(os.environ)
    for name in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ERROR_REPORTING"):
        env.pop(name, None)
    home = tmp_path / "home"
    home.mkdir()
    env["HOME"] = str(home)  # no ~/.netrc login, no wandb settings of this machine's user
    return env


def _check_trained(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr
    assert "(offline)" in result.stderr, "wandb should have run, offline: " + result.stderr


def test_offline_wandb_run_makes_no_network_attempt_from_python(tmp_path: Path) -> None:
    model = copy_model(MODEL_DIR, tmp_path)
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(SOCKET_GUARD, encoding="utf-8")
    attempts = tmp_path / "attempts.log"
    env = _user_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(guard), env.get("PYTHONPATH")]))
    env["AIFS_SOCKET_GUARD_LOG"] = str(attempts)
    result = subprocess.run(
        [sys.executable, *TRAIN], cwd=model, env=env, capture_output=True, text=True, timeout=300
    )
    _check_trained(result)
    assert not attempts.exists(), "network attempts:\n" + attempts.read_text(encoding="utf-8")


def _remote_connects(trace: str) -> list[str]:
    """strace lines of AF_INET/AF_INET6 connects to anything but loopback (DNS on 53 included)."""
    remote = []
    for line in trace.splitlines():
        if "connect(" not in line or not re.search(r"AF_INET6?\b", line):
            continue
        if re.search(r'inet_addr\("127\.|inet_pton\(AF_INET6, "::1"', line):
            continue
        remote.append(line)
    return remote


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_offline_wandb_run_connects_nowhere_in_any_process(tmp_path: Path) -> None:
    model = copy_model(MODEL_DIR, tmp_path)
    trace = tmp_path / "strace.txt"
    command = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace), sys.executable]
    result = subprocess.run(
        [*command, *TRAIN],
        cwd=model,
        env=_user_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    _check_trained(result)
    lines = trace.read_text(encoding="utf-8")
    assert "AF_UNIX" in lines, "strace did not see wandb's local sockets: " + lines[:500]
    remote = _remote_connects(lines)
    assert not remote, "connections out of the machine:\n" + "\n".join(remote)
