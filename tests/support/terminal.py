"""``orderbell listen`` as a subprocess, and reading its output as it comes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.servers import PASSWORD, Server


def start_listen(
    server: Server, username: str, state_file: Path, *, password: str = PASSWORD
) -> subprocess.Popen[str]:
    """``orderbell listen --json`` for ``username``: alerts as JSON lines on its
    standard output, connection notes on its standard error."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orderbell",
            "listen",
            "--url",
            server.base_url,
            "--user",
            username,
            "--json",
            "--state-file",
            str(state_file),
        ],
        env=dict(os.environ, ORDERBELL_PASSWORD=password),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


async def read_lines(stream: Any, into: list[str], *, presence: bool = False) -> None:
    """Append each line of ``stream`` to ``into`` until it ends (run it as a task).

    ``presence`` lines (devices coming and going) are skipped unless asked
    for: most tests count alerts."""
    while line := await asyncio.to_thread(stream.readline):
        if presence or not line.startswith('{"event":"presence"'):
            into.append(line)
