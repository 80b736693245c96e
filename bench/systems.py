"""The servers under test: orderbell itself and the reference servers, started and stopped.

A ``System`` is one or more server processes on loopback ports, the
request targets its consoles connect to, and how to raise one alert in it
(an HTTP request whose ``orderId`` the harness chooses).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench import http, procs

REPO = Path(__file__).resolve().parent.parent

#: name -> (module, extra arguments, label in tables)
REFERENCES: dict[str, tuple[str, list[str], str]] = {
    "raw": ("bench.servers.raw", [], "raw asyncio transports (the limit)"),
    "raw-sndbuf": (
        "bench.servers.raw",
        ["--sndbuf", "262144"],
        "raw transports, 256 KiB SO_SNDBUF as orderbell",
    ),
    "starlette": ("bench.servers.starlette_app", [], "uvicorn + Starlette, send_text per console"),
    "starlette-legacy": (
        "bench.servers.starlette_app",
        ["--ws", "websockets"],
        "uvicorn + Starlette, legacy websockets implementation",
    ),
    "websockets": ("bench.servers.websockets_app", [], "websockets, awaiting send per console"),
    "ws-broadcast": ("bench.servers.websockets_app", ["--broadcast"], "websockets broadcast()"),
}
ORDERBELL_LABEL = "orderbell"
#: Another orderbell source tree (its ``src`` folder) to measure instead of the
#: installed one, e.g. a ``git worktree`` of an earlier commit (--orderbell-src).
ORDERBELL_SRC: Path | None = None
ALL = ["orderbell", "raw", "starlette", "websockets", "ws-broadcast"]


def label(name: str) -> str:
    return ORDERBELL_LABEL if name == "orderbell" else REFERENCES[name][2]


@dataclass
class System:
    name: str
    ports: list[int]
    processes: list[subprocess.Popen[bytes]]
    #: "port request-target" lines the consoles use
    targets: list[str]
    #: (request head, body) that raises an alert with this orderId
    trigger: Callable[[int], tuple[bytes, bytes]] = field(repr=False)
    cleanup: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            procs.stop(process)
        for step in reversed(self.cleanup):
            step()

    def cpu(self) -> float:
        return sum(procs.cpu_seconds(pid) for pid in self.pids)

    def rss_kb(self) -> int:
        return sum(procs.rss_kb(pid) for pid in self.pids)


async def wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path, within: float = 30):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited:\n{_tail(log)}")
        connection = http.Connection("127.0.0.1", port)
        try:
            status, _ = await connection.request(http.head("GET", "/healthz", port))
            if status == 200:
                return
        except (OSError, http.HttpError):
            pass
        finally:
            connection.close()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start in {within}s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-3000:]
    except FileNotFoundError:
        return ""


async def start_reference(name: str, work: Path, *, heartbeat: float = 0.0) -> System:
    module, extra, _ = REFERENCES[name]
    port = procs.free_port()
    log = work / f"{name}.log"
    process = procs.start(
        [sys.executable, "-m", module, "--port", str(port), "--heartbeat", str(heartbeat), *extra],
        log=log,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    try:
        await wait_healthy(port, process, log)
    except BaseException:
        procs.stop(process)
        raise

    def trigger(order_id: int) -> tuple[bytes, bytes]:
        return http.head("GET", f"/trigger?oid={order_id}", port), b""

    return System(name, [port], [process], [f"{port} /ws/c?token=bench"], trigger)


# orderbell ------------------------------------------------------------------


def orderbell_env(database_url: str, secret: str, **settings: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ORDERBELL_DATABASE_URL=database_url,
        ORDERBELL_LOG_LEVEL="warning",
        ORDERBELL_SECRET_KEY=secret,
        # Thousands of consoles of one shop in one process: above the usual cap.
        ORDERBELL_MAX_CONSOLES_PER_SHOP="25000",
        # The sweep for shops nobody listens to runs (its cost is measured),
        # but pauses no shop within a run: most bench shops have no console.
        ORDERBELL_UNATTENDED_PAUSE_SECONDS="86400",
    )
    env.update({f"ORDERBELL_{k.upper()}": v for k, v in settings.items()})
    if ORDERBELL_SRC is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ORDERBELL_SRC), env.get("PYTHONPATH", "")) if p
        )
    return env


def migrate(env: dict[str, str], work: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orderbell", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"orderbell db upgrade failed:\n{result.stdout}\n{result.stderr}")


async def start_orderbell_process(
    env: dict[str, str], work: Path, tag: str
) -> tuple[int, subprocess.Popen[bytes]]:
    port = procs.free_port()
    log = work / f"orderbell-{tag}.log"
    process = procs.start(
        [sys.executable, "-m", "orderbell", "serve", "--port", str(port)], log=log, env=env
    )
    try:
        await wait_healthy(port, process, log)
    except BaseException:
        procs.stop(process)
        raise
    return port, process


async def start_orderbell_fanout(work: Path, *, heartbeat: float | None = None) -> System:
    """orderbell on a fresh SQLite file, with one shop, a merchant, an API key and its token."""
    from bench import seed

    secret = secrets.token_urlsafe(32)
    url = f"sqlite+aiosqlite:///{work / 'orderbell-fanout.db'}"
    settings = {"heartbeat_seconds": str(heartbeat)} if heartbeat else {}
    env = orderbell_env(url, secret, **settings)
    await asyncio.to_thread(migrate, env, work)
    shop = await seed.one_shop(url)
    port, process = await start_orderbell_process(env, work, "fanout")
    try:
        token = await seed.merchant_login(port, shop.username, shop.password)
    except BaseException:
        procs.stop(process)
        raise
    target = f"/api/v1/shops/{shop.shop_id}/alerts"
    headers = {"X-Api-Key": shop.api_key, "Content-Type": "application/json"}

    def trigger(order_id: int) -> tuple[bytes, bytes]:
        body = orjson.dumps(
            {"type": 1, "orderNumber": f"B{order_id}", "orderId": order_id, "text": "bench"}
        )
        return http.head("POST", target, port, headers), body

    return System("orderbell", [port], [process], [f"{port} /ws/c?token={token}"], trigger)
