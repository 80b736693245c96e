"""The benchmark harness (bench/, make bench) works end to end in its smallest mode."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_service

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
@pytest.mark.timeout(90)
def test_harness_smallest_run(tmp_path: Path) -> None:
    require_service(
        "gcc", bool(shutil.which("gcc") or shutil.which("cc")), "apt-get install -y gcc"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--scenario",
            "fanout,platform",
            "--servers",
            "orderbell,raw",
            "--sizes",
            "50",
            "--paced-alerts",
            "5",
            "--modes",
            "sqlite",
            "--shops",
            "25",
            "--rates",
            "20",
            "--step-seconds",
            "1",
            "--no-plot",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )
    output = result.stdout[-4000:] + result.stderr[-4000:]
    assert result.returncode == 0, output

    fanout = json.loads((tmp_path / "fanout.json").read_text())["rows"]
    assert [r["server"] for r in fanout] == ["orderbell", "raw"], output
    for row in fanout:
        assert row["open"] == 50 and row["failed"] == 0, row
        assert row["deflate_accepted"] == 0, row
        # Every console got every alert, with a latency that makes sense.
        assert row["paced_delivered"] == row["paced_expected"] == 5 * 50, row
        assert row["burst_delivered"] == row["burst_expected"] > 0, row
        assert row["trigger_errors"] == 0, row
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"] < 10_000, row
        assert row["deliveries_per_s"] > 0, row

    platform = json.loads((tmp_path / "platform.json").read_text())["rows"]
    assert len(platform) == 1, output
    step = platform[0]
    assert step["mode"] == "sqlite" and step["consoles"] == 50, step
    assert step["paid"] == step["offered"] == 20 and step["errors"] == 0, step
    # Both consoles of each shop heard about each paid order.
    assert step["delivered"] == 40 and step["missing"] == 0, step
    assert 0 < step["p50_ms"] < 10_000, step

    summary = (tmp_path / "summary.md").read_text()
    assert "## Targets" in summary and "fan-out" in summary
