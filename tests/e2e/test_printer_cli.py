"""``orderbell printer add|list|remove``, run as subprocesses against a temporary database."""

from __future__ import annotations

import os
from pathlib import Path

from tests.e2e.test_cli import orderbell


def test_printers_added_listed_and_removed_from_the_command_line(tmp_path: Path) -> None:
    env = dict(os.environ) | {"ORDERBELL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"}
    assert orderbell("db", "upgrade", env=env).returncode == 0
    assert orderbell("shop", "create", "面馆", env=env).returncode == 0

    added = orderbell(
        "printer", "add", "--shop", "1", "--kind", "escpos-tcp",
        "--address", "192.168.1.50:9100", "--width", "80", "--name", "后厨", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "added printer 1 '后厨' (escpos-tcp, 192.168.1.50:9100, 80 mm)" in added.stdout

    cloud = orderbell("printer", "add", "--shop", "1", "--kind", "cloudprnt", env=env)
    assert cloud.returncode == 0, cloud.stderr
    assert "login: cp_" in cloud.stdout and "secret: " in cloud.stdout

    bad = orderbell(
        "printer", "add", "--shop", "1", "--address", "192.168.1.50", "--width", "76", env=env
    )
    assert bad.returncode == 1 and "width must be one of [58, 80]" in bad.stderr

    listed = orderbell("printer", "list", "--shop", "1", env=env)
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 and "192.168.1.50:9100" in lines[0] and "cloudprnt" in lines[1]

    removed = orderbell("printer", "remove", "1", env=env)
    assert removed.returncode == 0 and "removed printer 1; 0 job(s) given up" in removed.stdout
    again = orderbell("printer", "remove", "1", env=env)
    assert again.returncode == 1 and "Printer 1 not found" in again.stderr
