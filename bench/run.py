"""Run the benchmarks: ``python -m bench.run`` (``make bench``), see docs/performance.md.

Starts orderbell and the reference servers on loopback ports, drives them
with the compiled load client, prints a table per scenario and writes
``<scenario>.json``, ``<scenario>.png`` and ``summary.md`` (with the targets
of issue 8) to the output folder. Every process it starts is ended when it
finishes, fails or is interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import dataclasses
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python bench/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import escalation, loadclient, procs, report, scenarios, systems, webhooks

RESULTS = Path(__file__).resolve().parent / "results"


def _ints(text: str) -> list[int]:
    return [int(x.replace("_", "").replace("k", "000")) for x in text.split(",") if x]


def options(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    parser.add_argument(
        "--scenario",
        default="all",
        help="fanout, platform, idle, overload, escalation, webhooks, or a comma-separated "
        "list (default: all)",
    )
    parser.add_argument(
        "--servers",
        default=",".join(systems.ALL),
        help=f"servers of the fan-out and idle scenarios (default: {','.join(systems.ALL)}; "
        "also raw-sndbuf: raw transports with orderbell's 256 KiB send buffer; "
        "starlette-legacy: uvicorn's legacy websockets implementation)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, seconds per scenario")
    parser.add_argument(
        "--sizes", type=_ints, help="fan-out console counts (default 1000,5000,10000)"
    )
    parser.add_argument(
        "--idle-sizes", type=_ints, help="idle console counts (default 10000,19000)"
    )
    parser.add_argument(
        "--idle-window", type=float, help="seconds of idle CPU measuring (default 20)"
    )
    parser.add_argument(
        "--heartbeat",
        type=float,
        help="heartbeat seconds in the idle scenario (default 20, orderbell's default)",
    )
    parser.add_argument("--paced-alerts", type=int, help="alerts of the latency run (default 20)")
    parser.add_argument(
        "--repeats", type=int, help="runs of each fan-out measurement, best kept (default 3)"
    )
    parser.add_argument("--modes", help="platform mix setups: sqlite,postgres (default both)")
    parser.add_argument(
        "--shops", type=int, help="platform mix shops, 2 consoles each (default 5000)"
    )
    parser.add_argument("--rates", type=_ints, help="platform mix paid orders/s steps")
    parser.add_argument(
        "--step-seconds", type=float, help="seconds per platform mix step (default 4)"
    )
    parser.add_argument(
        "--overload-rate", type=int, help="payments/s of the overload burst (default 1500)"
    )
    parser.add_argument(
        "--overload-seconds", type=float, help="seconds of the overload burst (default 2)"
    )
    parser.add_argument(
        "--webhook-rows", type=int, help="webhook rows per run of the webhooks scenario (5000)"
    )
    parser.add_argument("--postgres-url", help="admin URL of the PostgreSQL to make a database in")
    parser.add_argument("--redis-url", help="Redis of the two-process setup")
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help=f"output folder (default {RESULTS})"
    )
    parser.add_argument(
        "--orderbell-src",
        type=Path,
        help="measure the orderbell of another source tree (its src folder), e.g. a worktree",
    )
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample orderbell with py-spy during its largest fan-out (bench extra)",
    )
    parser.add_argument(
        "--keep-work", action="store_true", help="keep the temporary folder (logs, databases)"
    )
    args = parser.parse_args(argv)
    wanted = (
        ["fanout", "platform", "idle", "overload", "escalation", "webhooks"]
        if args.scenario == "all"
        else args.scenario.split(",")
    )
    for name in wanted:
        if name not in report.SCENARIOS:
            parser.error(f"unknown scenario {name!r}")
    args.scenarios = wanted
    servers = args.servers.split(",")
    for name in servers:
        if name != "orderbell" and name not in systems.REFERENCES:
            known = ", ".join(["orderbell", *systems.REFERENCES])
            parser.error(f"unknown server {name!r}; known: {known}")
    args.server_list = servers
    return args


def config_of(args: argparse.Namespace) -> scenarios.Config:
    config = scenarios.Config(servers=args.server_list, profile=args.profile, out=args.out)
    if args.quick:
        config = dataclasses.replace(
            config,
            fanout_sizes=[100, 500],
            paced_alerts=10,
            repeats=1,
            idle_sizes=[200, 500],
            idle_warmup=20,
            idle_heartbeat=1.0,
            idle_window=2.0,
            platform_modes=["sqlite"],
            platform_shops=100,
            platform_customers=20,
            platform_rates=[50, 100],
            platform_step_seconds=2.0,
            overload_rate=150,
            overload_seconds=1.0,
            overload_shops=20,
            overload_pool=16,
            escalation_quick=True,
            webhook_rows=400,
            webhook_other_rows=100,
            settle=0.3,
            drain_timeout=10.0,
        )
    given = {
        "fanout_sizes": args.sizes,
        "idle_sizes": args.idle_sizes,
        "idle_window": args.idle_window,
        "idle_heartbeat": args.heartbeat,
        "paced_alerts": args.paced_alerts,
        "repeats": args.repeats,
        "platform_modes": args.modes.split(",") if args.modes else None,
        "platform_shops": args.shops,
        "platform_rates": args.rates,
        "platform_step_seconds": args.step_seconds,
        "overload_rate": args.overload_rate,
        "overload_seconds": args.overload_seconds,
        "webhook_rows": args.webhook_rows,
        "postgres_admin_url": args.postgres_url,
        "redis_url": args.redis_url,
    }
    return dataclasses.replace(config, **{k: v for k, v in given.items() if v is not None})


def log(message: str) -> None:
    print(message, flush=True)


async def run(args: argparse.Namespace, work: Path) -> int:
    config = config_of(args)
    if args.orderbell_src is not None:
        systems.ORDERBELL_SRC = args.orderbell_src.resolve()
        log(f"orderbell from {systems.ORDERBELL_SRC}")
    binary = await asyncio.to_thread(loadclient.build)
    log(f"load client: {binary}; work folder: {work}")
    failures = 0
    for name in args.scenarios:
        began = time.monotonic()
        log(f"\n== {name} ==")
        run_scenario = {
            "fanout": scenarios.fanout,
            "platform": scenarios.platform,
            "idle": scenarios.idle,
            "overload": scenarios.overload,
            "escalation": escalation.scenario,
            "webhooks": webhooks.webhooks,
        }[name]
        rows: list[dict[str, Any]] = await run_scenario(config, work, binary, log)
        failures += sum(1 for r in rows if r.get("error"))
        if not rows:
            failures += 1
        settings = dataclasses.asdict(config)
        settings.pop("postgres_admin_url", None)
        settings["out"] = str(settings["out"])
        report.save(args.out, name, rows, settings)
        picture = None if args.no_plot else report.plot(args.out, name, rows)
        log("")
        log(report.TABLES[name](rows))
        log(
            f"({name}: {time.monotonic() - began:.0f} s; results in {args.out / (name + '.json')}"
            + (f", plot {picture}" if picture else ", no plot (pip install -e '.[bench]')")
            + ")"
        )
    summary = report.summary(args.out)
    (args.out / "summary.md").write_text(summary)
    log("\n== targets ==")
    log(report.targets_table(report.load(args.out)))
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    args = options(argv)
    atexit.register(procs.stop_all)

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    # Ctrl-C too ends the run by SystemExit (asyncio's own handling would
    # cancel the main task, which can leave it waiting on a child forever).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, terminate)
    work = Path(tempfile.mkdtemp(prefix="orderbell-bench-"))
    ok = False
    try:
        code = asyncio.run(run(args, work))
        ok = code == 0
        return code
    except (KeyboardInterrupt, SystemExit):
        log("interrupted: stopping every process it started")
        return 130
    finally:
        procs.stop_all()
        if ok and not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"logs and data kept in {work}")


if __name__ == "__main__":
    sys.exit(main())
