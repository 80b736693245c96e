"""The compiled load client (bench/client/wsload.c): building it and driving several of them.

One client process holds many connections in one thread with epoll; the
pool splits the consoles over several processes, each well under the
per-process file limit, and speaks the client's line protocol (see the
comment at the top of wsload.c).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import procs

CLIENT_DIR = Path(__file__).resolve().parent / "client"
SOURCE = CLIENT_DIR / "wsload.c"
#: Consoles one client process holds at most (the file limit here is 20,000).
PER_PROCESS = 10_000


def build(out_dir: Path = CLIENT_DIR / "build") -> Path:
    """Compile wsload with gcc (again only when the source is newer); returns the binary."""
    binary = out_dir / "wsload"
    if binary.exists() and binary.stat().st_mtime >= SOURCE.stat().st_mtime:
        return binary
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise RuntimeError("gcc is needed to build the load client: apt-get install -y gcc")
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [compiler, "-O2", "-Wall", "-o", str(binary) + ".tmp", str(SOURCE)],
        check=True,
    )
    Path(str(binary) + ".tmp").replace(binary)
    return binary


@dataclass
class Stats:
    open: int = 0
    frames: int = 0
    records: int = 0
    closed: int = 0
    failed: int = 0
    cpu: float = 0.0
    pings: int = 0
    deflate: int = 0
    maxrss_kb: int = 0

    def __add__(self, other: Stats) -> Stats:
        return Stats(
            self.open + other.open,
            self.frames + other.frames,
            self.records + other.records,
            self.closed + other.closed,
            self.failed + other.failed,
            self.cpu + other.cpu,
            self.pings + other.pings,
            self.deflate + other.deflate,
            self.maxrss_kb + other.maxrss_kb,
        )


class Client:
    """One wsload process and its command pipe."""

    def __init__(self, binary: Path, targets: list[str], work: Path, name: str) -> None:
        self.binary = binary
        self.targets = targets
        self.work = work
        self.name = name
        self.process: asyncio.subprocess.Process | None = None
        self.connected = 0

    async def start(self, max_pending: int) -> None:
        path = self.work / f"{self.name}.targets"
        path.write_text("".join(line + "\n" for line in self.targets))
        self.process = await asyncio.create_subprocess_exec(
            str(self.binary),
            "--targets",
            str(path),
            "--max-pending",
            str(max_pending),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=(self.work / f"{self.name}.err").open("ab"),
            start_new_session=True,
        )
        procs.remember(self.process.pid)
        ready = await self._line(10)
        if ready != "READY":
            raise RuntimeError(f"load client did not start: {ready!r}")

    async def _line(self, within: float) -> str:
        assert self.process is not None and self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not raw:
            raise RuntimeError(f"load client {self.name} exited (code {self.process.returncode})")
        return raw.decode().strip()

    async def ask(self, command: str, within: float = 30) -> str:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self._line(within)

    async def connect(self, count: int, within: float) -> tuple[int, int, int]:
        """Open ``count`` more connections; (open, failed, deflate accepted) when all settled."""
        answer = (await self.ask(f"CONNECT {count}", within)).split()
        self.connected += count
        return int(answer[1]), int(answer[2]), int(answer[3])

    async def stats(self) -> Stats:
        f = [int(x) for x in (await self.ask("STATS")).split()[1:]]
        return Stats(f[0], f[1], f[2], f[3], f[4], f[5] / 1e6, f[6], f[7], f[8])

    async def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.write(b"QUIT\n")
            await self.process.stdin.drain()
        try:
            await asyncio.wait_for(self.process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        procs.forget(self.process.pid)
        self.process = None


class ClientPool:
    """Consoles spread over several wsload processes.

    ``targets`` are "port request-target" lines; console i of the whole pool
    uses line i modulo their number, so each target gets its share.
    """

    def __init__(
        self,
        binary: Path,
        targets: list[str],
        work: Path,
        *,
        consoles: int,
        per_process: int = PER_PROCESS,
        max_pending: int = 256,
        name: str = "client",
    ) -> None:
        count = max(1, math.ceil(consoles / per_process))
        # Client k holds consoles k, k+count, k+2*count...: give it those targets.
        self.clients = [
            Client(binary, _every(targets, k, count, consoles), work, f"{name}{k}")
            for k in range(count)
        ]
        self.max_pending = max_pending
        self.total = 0

    async def __aenter__(self) -> ClientPool:
        try:
            for client in self.clients:
                await client.start(self.max_pending)
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        for client in self.clients:
            await client.stop()

    @property
    def pids(self) -> list[int]:
        return [c.process.pid for c in self.clients if c.process is not None]

    async def connect_to(self, total: int, within: float = 120) -> tuple[int, int, int]:
        """Grow to ``total`` consoles in all; (open, failed, deflate accepted)."""
        n = len(self.clients)
        wanted = [total // n + (1 if k < total % n else 0) for k in range(n)]
        results = await asyncio.gather(
            *(
                c.connect(max(0, w - c.connected), within)
                for c, w in zip(self.clients, wanted, strict=True)
            )
        )
        self.total = total
        return (
            sum(r[0] for r in results),
            sum(r[1] for r in results),
            sum(r[2] for r in results),
        )

    async def stats(self) -> Stats:
        total = Stats()
        for s in await asyncio.gather(*(c.stats() for c in self.clients)):
            total = total + s
        return total

    async def reset(self, floor: int | None = None) -> None:
        """Forget the records; with ``floor``, frames whose orderId is below it are not kept."""
        command = "RESET" if floor is None else f"RESET {floor}"
        await asyncio.gather(*(c.ask(command) for c in self.clients))

    async def wait_records(self, count: int, within: float) -> int:
        """Wait until the clients hold ``count`` records in all, or ``within`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        got = 0
        while True:
            got = (await self.stats()).records
            if got >= count or loop.time() >= deadline:
                return got
            await asyncio.sleep(0.05)

    async def records(self, work: Path) -> array.array[int]:
        """Every record kept, flattened: order id, receipt time (us), order id, ..."""
        out: array.array[int] = array.array("q")
        for client in self.clients:
            path = work / f"{client.name}.records"
            await client.ask(f"DUMP {path}", within=60)
            out.frombytes(path.read_bytes())
            path.unlink()
        return out

    async def cpu(self) -> float:
        return (await self.stats()).cpu


def _every(targets: list[str], start: int, step: int, consoles: int) -> list[str]:
    """The targets that consoles start, start+step, ... of the pool use, in that order."""
    lines = [targets[i % len(targets)] for i in range(start, max(consoles, start + 1), step)]
    # Collapse a repeated single target (fan-out to one shop) to one line.
    return lines if len(set(lines)) > 1 else lines[:1]
