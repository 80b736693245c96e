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


@pytest.mark.e2e
@pytest.mark.timeout(90)
def test_harness_overload_smallest_run(tmp_path: Path) -> None:
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
            "overload",
            "--overload-rate",
            "40",
            "--overload-seconds",
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
    rows = json.loads((tmp_path / "overload.json").read_text())["rows"]
    assert [r["mode"] for r in rows] == ["fresh", "pooled"], output
    for row in rows:
        # A burst this small is no overload: every payment is answered.
        assert row["sent"] == row["paid"] == 40 and row["timeouts"] == 0, row
        assert row["errors"] == 0 and row["server_alive"], row
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["max_ms"] < 10_000, row
        assert 0 < row["first_p50_ms"] < 10_000 and 0 < row["last_p50_ms"] < 10_000, row
    assert "median ms" in output and "p99 ms" in output and "timeouts" in output
    assert "## overload" in (tmp_path / "summary.md").read_text()


def test_overload_figures_count_timeouts_apart_and_compare_first_and_last() -> None:
    from bench.scenarios import overload_row

    # order_id due_us sent_us done_us status, 20 payments due 1 ms apart:
    # the first ten answered after 900 ms, the last ten after 100 ms, and two given up.
    lines = [f"{i} {i * 1000} {i * 1000} {i * 1000 + 900_000} 200" for i in range(10)]
    lines += [f"{i} {i * 1000} {i * 1000} {i * 1000 + 100_000} 200" for i in range(10, 20)]
    lines += ["20 20000 20000 10020000 -2", "21 21000 21000 10021000 -2", "22 22000 22000 0 -1"]
    row = overload_row(lines, rate=1000, seconds=0.02)
    assert row["paid"] == 20 and row["timeouts"] == 2 and row["errors"] == 1
    assert row["timeout_share"] == pytest.approx(2 / 23)
    assert row["first_p50_ms"] == pytest.approx(900) and row["last_p50_ms"] == pytest.approx(100)
    assert row["p50_ms"] == pytest.approx(100) and row["max_ms"] == pytest.approx(900)
    assert row["statuses"] == {"200": 20, "-2": 2, "-1": 1}
