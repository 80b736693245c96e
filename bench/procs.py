"""Processes the harness starts, and what /proc says about them.

Every process is started in a session of its own and remembered, so that
``stop_all`` (called on exit, on failure and on Ctrl-C) can end it and all
its children: nothing the harness started outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
_started: list[subprocess.Popen[bytes]] = []
_pids: set[int] = set()
_cleanups: list[Callable[[], None]] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    argv: Sequence[str],
    *,
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with its output in ``log``; it is stopped by ``stop_all`` at the latest."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    _started.append(process)
    return process


def remember(pid: int) -> None:
    """Have ``stop_all`` end a process started elsewhere (asyncio subprocesses)."""
    _pids.add(pid)


def forget(pid: int) -> None:
    _pids.discard(pid)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """End a process (SIGTERM, then SIGKILL after ``timeout``) and its process group."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(5)
    # Whatever it started in its group goes too.
    _signal_group(process.pid, signal.SIGKILL)
    if process in _started:
        _started.remove(process)


def at_cleanup(step: Callable[[], None]) -> Callable[[], None]:
    """Have ``stop_all`` run ``step`` (after the processes are gone); returns a way to cancel it."""
    _cleanups.append(step)
    return lambda: _cleanups.remove(step) if step in _cleanups else None


def stop_all() -> None:
    """End every process the harness started that is still running, then run the cleanups."""
    for process in list(_started):
        with contextlib.suppress(Exception):
            stop(process, timeout=5)
    for pid in list(_pids):
        _signal_group(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        _pids.discard(pid)
    while _cleanups:
        step = _cleanups.pop()
        with contextlib.suppress(Exception):
            step()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its own threads, not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the command: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kb(pid: int) -> int:
    """Resident memory of a process, in KiB (VmRSS of /proc/PID/status)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, PermissionError):
        return 0
