"""The scenarios: fan-out, platform mix, idle consoles, overload.

Each returns a list of result rows (dicts); ``bench.report`` prints,
saves and plots them. Every loop here is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import http, procs, seed, systems
from bench.loadclient import ClientPool
from bench.stats import summary_ms

Log = Callable[[str], None]


@dataclass
class Config:
    servers: list[str] = field(default_factory=lambda: list(systems.ALL))
    fanout_sizes: list[int] = field(default_factory=lambda: [1000, 5000, 10000])
    #: alerts of the latency run, one every ``paced_interval`` seconds
    paced_alerts: int = 20
    paced_interval: float = 0.1
    #: runs of each fan-out measurement; the best is kept (a shared machine adds noise)
    repeats: int = 3
    #: alerts raised at once for the throughput run (0: about 100k deliveries' worth)
    burst_alerts: int = 0
    idle_sizes: list[int] = field(default_factory=lambda: [10000, 19000])
    idle_warmup: int = 50
    #: orderbell's default heartbeat, and a window of one heartbeat round
    idle_heartbeat: float = 20.0
    idle_window: float = 20.0
    platform_modes: list[str] = field(default_factory=lambda: ["sqlite", "postgres"])
    platform_shops: int = 5000
    platform_customers: int = 200
    platform_rates: list[int] = field(
        default_factory=lambda: [25, 50, 100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500]
    )
    platform_step_seconds: float = 4.0
    #: a step with a p99 above this (ms) or below 80% of its rate ends the stepping
    platform_stop_p99_ms: float = 1000.0
    #: a burst of payments at about three times what one SQLite process holds (~500/s)
    overload_rate: int = 1500
    overload_seconds: float = 2.0
    #: a customer's app gives a payment up after this long
    overload_timeout: float = 10.0
    overload_shops: int = 200
    #: the escalation sweep with 10,000 waiting orders instead of 100,000 (bench/escalation.py)
    escalation_quick: bool = False
    #: fresh: a connection per payment; pooled: kept-alive connections opened first
    overload_modes: list[str] = field(default_factory=lambda: ["fresh", "pooled"])
    overload_pool: int = 256
    #: webhook rows to the fast endpoints per run, and to a dead or slow one beside them
    webhook_rows: int = 5000
    webhook_other_rows: int = 1000
    postgres_admin_url: str = "postgresql://postgres@127.0.0.1:5432/test"
    redis_url: str = "redis://127.0.0.1:6379/0"
    settle: float = 1.0
    drain_timeout: float = 20.0
    max_pending: int = 256
    per_client: int = 10_000
    #: sample orderbell with py-spy during its largest fan-out
    profile: bool = False
    out: Path = Path("bench/results")


#: payments made (at 10/s) before the platform mix's first step, not counted
WARMUP_ORDERS = 30


def now_us() -> int:
    return time.time_ns() // 1000


async def start_system(name: str, work: Path, *, heartbeat: float | None = None) -> systems.System:
    if name == "orderbell":
        return await systems.start_orderbell_fanout(work, heartbeat=heartbeat)
    return await systems.start_reference(name, work, heartbeat=heartbeat or 0.0)


class Triggers:
    """Raises alerts in a system over a few keep-alive connections."""

    def __init__(self, system: systems.System, size: int = 16) -> None:
        self.system = system
        self.pool = http.Pool("127.0.0.1", system.ports[0], size)
        self.errors = 0
        self.statuses: dict[str, int] = {}
        self.sent: list[int] = []

    async def fire(self, order_id: int) -> None:
        head, body = self.system.trigger(order_id)
        self.sent.append(order_id)
        try:
            status, _ = await self.pool.request(head, body)
        except (OSError, http.HttpError) as exc:
            status = 0
            self.statuses[type(exc).__name__] = self.statuses.get(type(exc).__name__, 0) + 1
        if status not in (200, 201):
            self.errors += 1
            if status:
                self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1

    def close(self) -> None:
        self.pool.close()


async def quiet(pids: list[int], *, below: float = 0.15, within: float = 90.0) -> float:
    """Wait until the servers use less than ``below`` of a core over half a second (they
    may still be setting up consoles whose handshake is done); returns the seconds waited."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    last = sum(procs.cpu_seconds(p) for p in pids)
    while loop.time() - start < within:
        await asyncio.sleep(0.5)
        now = sum(procs.cpu_seconds(p) for p in pids)
        if (now - last) / 0.5 < below:
            break
        last = now
    return loop.time() - start


def latencies(records: Any, sent: set[int]) -> list[int]:
    """receipt - orderId (us) of every record whose orderId is a send time we used."""
    out = []
    for i in range(0, len(records), 2):
        order_id = records[i]
        if order_id in sent:
            out.append(records[i + 1] - order_id)
    return out


# fan-out ----------------------------------------------------------------------


async def fanout(config: Config, work: Path, binary: Path, log: Log) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in config.servers:
        log(f"fan-out: {systems.label(name)}")
        system = await start_system(name, work)
        try:
            async with ClientPool(
                binary,
                system.targets,
                work,
                consoles=max(config.fanout_sizes),
                per_process=config.per_client,
                max_pending=config.max_pending,
                name=f"fanout-{name}-",
            ) as pool:
                for size in config.fanout_sizes:
                    row = await _fanout_size(config, work, system, pool, size, log)
                    rows.append(row)
                    if row.get("error"):
                        break
        finally:
            system.stop()
    return rows


async def _fanout_size(
    config: Config, work: Path, system: systems.System, pool: ClientPool, size: int, log: Log
) -> dict[str, Any]:
    row: dict[str, Any] = {"server": system.name, "label": systems.label(system.name)}
    row["consoles"] = size
    began = time.monotonic()
    opened, failed, deflate = await pool.connect_to(size, within=180)
    row.update(open=opened, failed=failed, deflate_accepted=deflate)
    row["connect_seconds"] = time.monotonic() - began
    if opened < size or not system.alive():
        row["error"] = f"only {opened} of {size} consoles connected"
        log(f"  {size}: {row['error']}")
        return row
    await asyncio.sleep(config.settle)
    row["settle_seconds"] = await quiet(system.pids)

    profiler = None
    if config.profile and system.name == "orderbell" and size == max(config.fanout_sizes):
        profiler = await _start_profiler(system.pids[0], work)

    # Latency: one alert every paced_interval seconds; the run with the lowest
    # p99 of ``repeats`` is kept (the others are interference, not the server).
    triggers = Triggers(system)
    paced: list[dict[str, Any]] = []
    for _ in range(config.repeats):
        paced.append(await _paced_run(config, work, system, pool, triggers, size))
        if not paced[-1]["complete"]:
            break
    best = min(paced, key=lambda r: (not r["complete"], _order(r["p99_ms"])))
    row.update({k: v for k, v in best.items() if k != "complete"})
    row["paced_p99_runs_ms"] = [r["p99_ms"] for r in paced]

    # Throughput: a burst of alerts raised at once; the fastest of ``repeats`` is kept.
    bursts: list[dict[str, Any]] = []
    for _ in range(config.repeats):
        bursts.append(await _burst_run(config, work, system, pool, triggers, size))
        if bursts[-1]["burst_delivered"] < bursts[-1]["burst_expected"]:
            break
    row.update(max(bursts, key=lambda r: r["deliveries_per_s"]))
    row["deliveries_per_s_runs"] = [r["deliveries_per_s"] for r in bursts]
    row["trigger_errors"] = triggers.errors
    row["trigger_error_kinds"] = triggers.statuses
    triggers.close()
    if profiler is not None:
        row["profile"] = await _stop_profiler(profiler, work, config.out, "fanout")
    stats = await pool.stats()
    row["closed_by_server"] = stats.closed
    if not system.alive():
        row["error"] = "server exited"
    log(
        f"  {size:>6} consoles: {row['deliveries_per_s']:>9,.0f} deliveries/s, "
        f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, max {row['max_ms']:.1f} ms "
        f"(server CPU {row['burst_server_cpu_s']:.2f} s, client CPU {row['burst_client_cpu_s']:.2f} s "
        f"in the burst)"
    )
    return row


def _order(value: float) -> float:
    return math.inf if value is None or math.isnan(value) else value


async def _paced_run(
    config: Config,
    work: Path,
    system: systems.System,
    pool: ClientPool,
    triggers: Triggers,
    size: int,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    triggers.sent.clear()
    # Frames of an earlier run still arriving are not counted as this run's.
    await pool.reset(floor=now_us())
    server_cpu, client_cpu = system.cpu(), await pool.cpu()
    tasks = []
    start = loop.time()
    for i in range(config.paced_alerts):
        delay = start + i * config.paced_interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(triggers.fire(now_us())))
    expected = config.paced_alerts * size
    await pool.wait_records(expected, config.drain_timeout)
    await asyncio.wait_for(asyncio.gather(*tasks), config.drain_timeout)
    lat = latencies(await pool.records(work), set(triggers.sent))
    run: dict[str, Any] = summary_ms(lat, max(0, expected - len(lat)))
    run["paced_alerts"] = config.paced_alerts
    run["paced_delivered"] = len(lat)
    run["paced_expected"] = expected
    run["paced_server_cpu_s"] = system.cpu() - server_cpu
    run["paced_client_cpu_s"] = await pool.cpu() - client_cpu
    run["complete"] = len(lat) >= expected
    await asyncio.sleep(config.settle / 2)
    return run


async def _burst_run(
    config: Config,
    work: Path,
    system: systems.System,
    pool: ClientPool,
    triggers: Triggers,
    size: int,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    burst = config.burst_alerts or max(5, min(20, 100_000 // size))
    triggers.sent.clear()
    await pool.reset(floor=now_us())
    server_cpu, client_cpu = system.cpu(), await pool.cpu()
    t0 = now_us()
    tasks = [loop.create_task(triggers.fire(now_us())) for _ in range(burst)]
    expected = burst * size
    await pool.wait_records(expected, config.drain_timeout)
    await asyncio.wait_for(asyncio.gather(*tasks), config.drain_timeout)
    records = await pool.records(work)
    sent = set(triggers.sent)
    receipts = [records[i + 1] for i in range(0, len(records), 2) if records[i] in sent]
    span = (max(receipts) - t0) / 1e6 if receipts else math.inf
    run: dict[str, Any] = {
        "burst_alerts": burst,
        "burst_delivered": len(receipts),
        "burst_expected": expected,
        "deliveries_per_s": len(receipts) / span if receipts else 0.0,
        "burst_seconds": span,
        "burst_server_cpu_s": system.cpu() - server_cpu,
        "burst_client_cpu_s": await pool.cpu() - client_cpu,
    }
    # Deliveries per second of server CPU: steadier than the wall-clock rate
    # when other work shares the machine.
    cpu = run["burst_server_cpu_s"]
    run["deliveries_per_cpu_s"] = len(receipts) / cpu if cpu > 0 else None
    await asyncio.sleep(config.settle / 2)
    return run


async def _start_profiler(pid: int, work: Path) -> asyncio.subprocess.Process | None:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        return None
    process = await asyncio.create_subprocess_exec(
        str(spy),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "250",
        "--format",
        "raw",
        "--nonblocking",
        "-o",
        str(work / "profile.raw"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    procs.remember(process.pid)
    await asyncio.sleep(0.5)
    return process


async def _stop_profiler(
    process: asyncio.subprocess.Process, work: Path, out: Path, name: str
) -> str | None:
    """Stop py-spy; write the hottest frames next to the results; returns that file's name."""
    process.send_signal(2)  # SIGINT: py-spy writes what it sampled
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()
    procs.forget(process.pid)
    return _summarize_profile(work / "profile.raw", out, name)


def _summarize_profile(raw: Path, out: Path, name: str) -> str | None:
    if not raw.exists():
        return None
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaf = frames[-1]
        own[leaf] = own.get(leaf, 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
    lines = [f"py-spy samples of orderbell ({name}): {total}", ""]
    lines.append("own time (the frame itself):")
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:25]:
        lines.append(f"  {100 * count / max(total, 1):5.1f}%  {frame}")
    lines += ["", "inclusive time (the frame and what it calls):"]
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[:40]:
        lines.append(f"  {100 * count / max(total, 1):5.1f}%  {frame}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"profile-orderbell-{name}.txt"
    target.write_text("\n".join(lines) + "\n")
    shutil.copyfile(raw, out / f"profile-orderbell-{name}.folded")
    raw.unlink()
    return target.name


# idle consoles ----------------------------------------------------------------


async def idle(config: Config, work: Path, binary: Path, log: Log) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for name in config.servers:
        log(f"idle: {systems.label(name)} (heartbeat every {config.idle_heartbeat:g} s)")
        system = await start_system(name, work, heartbeat=config.idle_heartbeat)
        try:
            total = config.idle_warmup + max(config.idle_sizes)
            async with ClientPool(
                binary,
                system.targets,
                work,
                consoles=total,
                per_process=config.per_client,
                max_pending=config.max_pending,
                name=f"idle-{name}-",
            ) as pool:
                # A few consoles first, so one-time costs (imports, first buffers)
                # are in the baseline, not in the per-console figure.
                await pool.connect_to(config.idle_warmup, within=60)
                await asyncio.sleep(config.settle * 2)
                await quiet(system.pids)
                base = system.rss_kb()
                for size in config.idle_sizes:
                    row: dict[str, Any] = {"server": name, "label": systems.label(name)}
                    row.update(
                        consoles=size, baseline_rss_kb=base, heartbeat_s=config.idle_heartbeat
                    )
                    opened, failed, _ = await pool.connect_to(config.idle_warmup + size, within=240)
                    row.update(open=opened - config.idle_warmup, failed=failed)
                    await asyncio.sleep(config.settle * 2)
                    row["settle_seconds"] = await quiet(system.pids)
                    rss = system.rss_kb()
                    row["rss_kb"] = rss
                    row["kb_per_console"] = (rss - base) / size
                    cpu0, ccpu0, t0 = system.cpu(), await pool.cpu(), time.monotonic()
                    await asyncio.sleep(config.idle_window)
                    window = time.monotonic() - t0
                    row["window_s"] = window
                    row["idle_cpu_pct"] = (system.cpu() - cpu0) / window * 100
                    row["client_cpu_pct"] = (await pool.cpu() - ccpu0) / window * 100
                    stats = await pool.stats()
                    row["still_open"] = stats.open - config.idle_warmup
                    row["pings_seen"] = stats.pings
                    row["server_fds"] = sum(procs.open_fds(p) for p in system.pids)
                    rows.append(row)
                    log(
                        f"  {size:>6} consoles ({row['still_open']} open after the window): "
                        f"{row['kb_per_console']:.1f} KB each, idle CPU {row['idle_cpu_pct']:.2f}% "
                        f"of a core"
                    )
                    if row["open"] < size or not system.alive():
                        row["error"] = f"only {row['open']} of {size} consoles connected"
                        break
        finally:
            system.stop()
    return rows


# platform mix -----------------------------------------------------------------


async def platform(config: Config, work: Path, binary: Path, log: Log) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for mode in config.platform_modes:
        log(f"platform mix: {_mode_label(mode)}")
        rows.extend(await _platform_mode(config, work, binary, mode, log))
    return rows


def _mode_label(mode: str) -> str:
    return {
        "sqlite": "SQLite, one process",
        "postgres": "PostgreSQL + Redis, two processes",
    }[mode]


async def _platform_mode(
    config: Config, work: Path, binary: Path, mode: str, log: Log
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    secret = secrets.token_urlsafe(32)
    steps = list(config.platform_rates)
    warmup = WARMUP_ORDERS if config.platform_step_seconds >= 2 else 0
    orders_needed = warmup + sum(math.ceil(r * config.platform_step_seconds) for r in steps)
    cleanup: list[Callable[[], Any]] = []
    processes = []
    try:
        if mode == "sqlite":
            url = f"sqlite+aiosqlite:///{work / 'platform.db'}"
            env = systems.orderbell_env(url, secret)
            count = 1
        else:
            url, drop = await _fresh_postgres(config.postgres_admin_url)
            cleanup.append(drop)
            # If the run is cut short, the database goes all the same.
            cleanup.append(procs.at_cleanup(lambda: _in_thread(drop)))
            prefix = f"bench{os.getpid()}{secrets.token_hex(4)}"
            env = systems.orderbell_env(
                url, secret, broker_url=config.redis_url, broker_channel_prefix=prefix
            )
            count = 2
        await asyncio.to_thread(systems.migrate, env, work)
        began = time.monotonic()
        kit = await seed.platform(
            url,
            shops=config.platform_shops,
            customers=config.platform_customers,
            orders=orders_needed,
            secret=secret,
        )
        log(
            f"  seeded {config.platform_shops} shops and {orders_needed} unpaid orders "
            f"in {time.monotonic() - began:.1f} s"
        )
        ports = []
        for k in range(count):
            port, process = await systems.start_orderbell_process(env, work, f"{mode}{k}")
            ports.append(port)
            processes.append(process)
        pids = [p.pid for p in processes]
        targets = []
        for _shop, token in sorted(kit.merchant_tokens.items()):
            targets.append(f"{ports[0]} /ws/a?token={token}")
            targets.append(f"{ports[-1]} /ws/b?token={token}")
        tokens_file = work / f"{mode}.tokens"
        tokens_file.write_text("\n".join(kit.customer_tokens) + "\n")
        async with ClientPool(
            binary,
            targets,
            work,
            consoles=len(targets),
            per_process=config.per_client,
            max_pending=config.max_pending,
            name=f"platform-{mode}-",
        ) as pool:
            began = time.monotonic()
            opened, failed, _ = await pool.connect_to(len(targets), within=240)
            log(
                f"  {opened} consoles connected in {time.monotonic() - began:.1f} s ({failed} failed)"
            )
            if opened < len(targets):
                return [
                    {"mode": mode, "error": f"only {opened} of {len(targets)} consoles connected"}
                ]
            await asyncio.sleep(config.settle * 2)
            waited = await quiet(pids)
            log(f"  servers quiet after {waited:.1f} s more")
            offset = 0
            if warmup:
                # A few payments first, not counted: the first requests of a
                # fresh process pay for imports and caches.
                await _platform_step(
                    config, work, mode, 10, kit.orders[:warmup], ports, pids, pool, tokens_file
                )
                offset = warmup
                await asyncio.sleep(config.settle)
            slow = 0
            for rate in steps:
                count_orders = math.ceil(rate * config.platform_step_seconds)
                jobs = kit.orders[offset : offset + count_orders]
                offset += count_orders
                row = await _platform_step(
                    config, work, mode, rate, jobs, ports, pids, pool, tokens_file
                )
                row["consoles"] = opened
                row["shops"] = config.platform_shops
                rows.append(row)
                log(
                    f"  {rate:>5}/s offered, {row['achieved_per_s']:>7.1f}/s paid: "
                    f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
                    f"{row['missing']} missing, {row['errors']} errors, "
                    f"server CPU {row['server_cpu_pct']:.0f}%"
                )
                # Saturated: the rate is missed, or p99 is over the bound twice running
                # (once may be a hiccup of the shared machine).
                slow = slow + 1 if not (row["p99_ms"] <= config.platform_stop_p99_ms) else 0
                if (
                    slow >= 2
                    or row["achieved_per_s"] < 0.8 * rate
                    or not all(p.poll() is None for p in processes)
                ):
                    break
                await asyncio.sleep(config.settle)
    finally:
        for process in processes:
            procs.stop(process)
        for step in cleanup:
            with contextlib.suppress(Exception):
                done = step()
                if asyncio.iscoroutine(done):
                    await done
    return rows


async def _platform_step(
    config: Config,
    work: Path,
    mode: str,
    rate: int,
    jobs: list[tuple[int, str, int]],
    ports: list[int],
    pids: list[int],
    pool: ClientPool,
    tokens_file: Path,
) -> dict[str, Any]:
    jobs_file = work / f"{mode}-{rate}.jobs"
    jobs_file.write_text("".join(f"{i} {n} {c}\n" for i, n, c in jobs))
    out_file = work / f"{mode}-{rate}.paid"
    # Order ids grow with the seeding order: alerts of earlier steps are not this step's.
    await pool.reset(floor=min(order_id for order_id, _, _ in jobs))
    profiler = None
    if config.profile and rate == config.platform_rates[0] and len(jobs) != WARMUP_ORDERS:
        profiler = await _start_profiler(pids[0], work)
    cpu0 = sum(procs.cpu_seconds(p) for p in pids)
    ccpu0 = await pool.cpu()
    t0 = time.monotonic()
    driver = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.driver",
        "--ports",
        ",".join(map(str, ports)),
        "--jobs",
        str(jobs_file),
        "--tokens",
        str(tokens_file),
        "--rate",
        str(rate),
        "--out",
        str(out_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=(work / "driver.err").open("ab"),
        cwd=systems.REPO,
        env=dict(os.environ, PYTHONPATH=str(systems.REPO)),
        start_new_session=True,
    )
    procs.remember(driver.pid)
    try:
        out, _ = await asyncio.wait_for(driver.communicate(), config.platform_step_seconds + 60)
    finally:
        if driver.returncode is None:
            driver.kill()
            await driver.wait()
        procs.forget(driver.pid)
    summary = orjson.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    due: dict[int, int] = {}
    errors = 0
    first_due = last_done = 0
    for line in out_file.read_text().splitlines() if out_file.exists() else []:
        order_id, due_us, _sent, done_us, status = map(int, line.split())
        if status == 200:
            due[order_id] = due_us
            last_done = max(last_done, done_us)
            first_due = min(first_due or due_us, due_us)
        else:
            errors += 1
    expected = 2 * len(due)
    await pool.wait_records(expected, config.drain_timeout)
    elapsed = time.monotonic() - t0
    records = await pool.records(work)
    lat = [records[i + 1] - due[records[i]] for i in range(0, len(records), 2) if records[i] in due]
    row: dict[str, Any] = {"mode": mode, "label": _mode_label(mode), "rate": rate}
    row.update(summary_ms(lat, max(0, expected - len(lat))))
    span = (last_done - first_due) / 1e6 if due else math.inf
    row["paid"] = len(due)
    row["offered"] = len(jobs)
    row["achieved_per_s"] = len(due) / max(span, config.platform_step_seconds) if due else 0.0
    row["delivered"] = len(lat)
    row["missing"] = max(0, expected - len(lat))
    row["errors"] = errors + (len(jobs) - summary.get("answered", len(jobs)))
    server_cpu = sum(procs.cpu_seconds(p) for p in pids) - cpu0
    row["server_cpu_pct"] = server_cpu / elapsed * 100
    # Server CPU per paid order (HTTP, transaction, publish, fan-out to its
    # consoles): what bounds the rate on a quiet machine, steady on a busy one.
    row["server_cpu_ms_per_order"] = server_cpu * 1000 / len(due) if due else None
    row["client_cpu_s"] = await pool.cpu() - ccpu0
    row["driver_cpu_s"] = summary.get("cpu_seconds")
    row["closed_by_server"] = (await pool.stats()).closed
    if profiler is not None:
        row["profile"] = await _stop_profiler(profiler, work, config.out, f"platform-{mode}")
    row["held"] = bool(
        row["p99_ms"] <= 100
        and row["missing"] == 0
        and row["errors"] == 0
        and row["achieved_per_s"] >= 0.95 * rate
    )
    return row


def _in_thread(work: Callable[[], Any]) -> None:
    """Run a coroutine function to its end on a loop of its own (from a signal's cleanup)."""
    import threading

    thread = threading.Thread(target=lambda: asyncio.run(work()), daemon=True)
    thread.start()
    thread.join(15)


async def _fresh_postgres(admin_url: str) -> tuple[str, Callable[[], Any]]:
    """A new empty database on the local PostgreSQL; (SQLAlchemy URL, async drop)."""
    import asyncpg

    name = f"orderbell_bench_{os.getpid()}_{secrets.token_hex(3)}"
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)

    async def drop() -> None:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    return f"{base}/{name}", drop


# overload ----------------------------------------------------------------------


async def overload(config: Config, work: Path, binary: Path, log: Log) -> list[dict[str, Any]]:
    """Bursts of payments well beyond what one SQLite process holds, two ways.

    ``fresh``: every payment opens a connection of its own (customers' apps
    straight to the server). ``pooled``: payments share kept-alive
    connections opened beforehand (a proxy's upstream pool), so the queue
    forms in the server, where waiting for the database must be first come,
    first served. Each row gives the median, p99 and max latency (from when
    a payment was due to its answer), the share given up after
    ``overload_timeout``, and the median of the first and last tenth of the
    burst: an early request starved while later ones pass shows there.
    """
    secret = secrets.token_urlsafe(32)
    count = math.ceil(config.overload_rate * config.overload_seconds)
    modes = list(config.overload_modes)
    warmup = WARMUP_ORDERS if config.overload_seconds >= 2 else 0
    url = f"sqlite+aiosqlite:///{work / 'overload.db'}"
    env = systems.orderbell_env(url, secret)
    await asyncio.to_thread(systems.migrate, env, work)
    kit = await seed.platform(
        url,
        shops=config.overload_shops,
        customers=config.platform_customers,
        orders=(warmup + count) * len(modes),
        secret=secret,
    )
    tokens_file = work / "overload.tokens"
    tokens_file.write_text("\n".join(kit.customer_tokens) + "\n")
    rows: list[dict[str, Any]] = []
    for k, mode in enumerate(modes):
        # A server of its own per burst: one that is still working through
        # the payments its clients gave up on would weigh on the next.
        port, process = await systems.start_orderbell_process(env, work, f"overload-{mode}")
        try:
            if warmup:
                await _drive(
                    work,
                    f"overload-{mode}-warmup",
                    kit.orders[k * (warmup + count) : k * (warmup + count) + warmup],
                    [port],
                    tokens_file,
                    10,
                )
            waited = await quiet([process.pid])
            log(f"  {mode}: server quiet after {waited:.1f} s")
            pooled = mode == "pooled"
            first = k * (warmup + count) + warmup
            cpu0 = procs.cpu_seconds(process.pid)
            t0 = time.monotonic()
            summary, lines = await _drive(
                work,
                f"overload-{mode}",
                kit.orders[first : first + count],
                [port],
                tokens_file,
                config.overload_rate,
                connections=config.overload_pool if pooled else count,
                open_first=pooled,
                request_timeout=config.overload_timeout,
                within=config.overload_seconds + config.overload_timeout + 60,
            )
            elapsed = time.monotonic() - t0
            row = overload_row(lines, config.overload_rate, config.overload_seconds)
            row["mode"] = mode
            row["connections"] = config.overload_pool if pooled else count
            row["sent"] = summary.get("sent", count)
            row["server_cpu_pct"] = (procs.cpu_seconds(process.pid) - cpu0) / elapsed * 100
            row["server_alive"] = process.poll() is None
        finally:
            procs.stop(process)
        rows.append(row)
        log(
            f"  {mode}, {row['rate']}/s for {row['seconds']:.0f} s: "
            f"median {row['p50_ms']:.0f} ms, p99 {row['p99_ms']:.0f} ms, "
            f"max {row['max_ms']:.0f} ms, timeouts {row['timeout_share'] * 100:.1f}%, "
            f"first tenth median {row['first_p50_ms']:.0f} ms, "
            f"last tenth median {row['last_p50_ms']:.0f} ms"
        )
    return rows


def overload_row(lines: list[str], rate: int, seconds: float) -> dict[str, Any]:
    """The figures of a burst from the driver's lines (``order_id due sent done status``).

    Latency runs from when a payment was due to its answer; payments given
    up (timeouts) or failed are counted apart and left out of the latencies.
    The first and last tenth (by due time) show whether early requests
    waited longer than late ones.
    """
    done: list[tuple[int, int]] = []
    timeouts = errors = 0
    statuses: dict[str, int] = {}
    for line in lines:
        _order_id, due_us, _sent, done_us, status = map(int, line.split())
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200:
            done.append((due_us, done_us - due_us))
        elif status == -2:
            timeouts += 1
        else:
            errors += 1
    total = len(done) + timeouts + errors
    done.sort()
    tenth = max(1, len(done) // 10)
    row: dict[str, Any] = {"rate": rate, "seconds": seconds, "paid": len(done)}
    row.update(summary_ms([lat for _, lat in done]))
    row["first_p50_ms"] = summary_ms([lat for _, lat in done[:tenth]])["p50_ms"]
    row["last_p50_ms"] = summary_ms([lat for _, lat in done[-tenth:]])["p50_ms"]
    row["timeouts"] = timeouts
    row["errors"] = errors
    row["statuses"] = statuses
    row["timeout_share"] = timeouts / total if total else math.nan
    row["p99_over_p50"] = row["p99_ms"] / row["p50_ms"] if done and row["p50_ms"] else math.nan
    return row


async def _drive(
    work: Path,
    tag: str,
    jobs: list[tuple[int, str, int]],
    ports: list[int],
    tokens_file: Path,
    rate: float,
    *,
    connections: int = 64,
    request_timeout: float = 0.0,
    open_first: bool = False,
    within: float = 120.0,
) -> tuple[dict[str, Any], list[str]]:
    """Run bench.driver over ``jobs``; (its JSON summary, its result lines)."""
    jobs_file = work / f"{tag}.jobs"
    jobs_file.write_text("".join(f"{i} {n} {c}\n" for i, n, c in jobs))
    out_file = work / f"{tag}.paid"
    driver = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.driver",
        "--ports",
        ",".join(map(str, ports)),
        "--jobs",
        str(jobs_file),
        "--tokens",
        str(tokens_file),
        "--rate",
        str(rate),
        "--out",
        str(out_file),
        "--connections",
        str(connections),
        "--request-timeout",
        str(request_timeout),
        "--timeout",
        str(within),
        *(["--open-first"] if open_first else []),
        stdout=asyncio.subprocess.PIPE,
        stderr=(work / "driver.err").open("ab"),
        cwd=systems.REPO,
        env=dict(os.environ, PYTHONPATH=str(systems.REPO)),
        start_new_session=True,
    )
    procs.remember(driver.pid)
    try:
        out, _ = await asyncio.wait_for(driver.communicate(), within + 30)
    finally:
        if driver.returncode is None:
            driver.kill()
            await driver.wait()
        procs.forget(driver.pid)
    summary = orjson.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {}
    lines = out_file.read_text().splitlines() if out_file.exists() else []
    return summary, lines
