"""Customers paying orders over HTTP at a fixed rate (a process of its own).

Open loop: request i is due at start + i/rate whatever happened to the
earlier ones, and its time is the time it was due, so a server that falls
behind is charged for the queue it causes. Requests go round-robin to the
given ports over keep-alive connections. Writes one line per order:
``order_id due_us sent_us done_us status``, and prints a JSON summary
(counts and this process's CPU time) on its last line. Status is the HTTP
status (negated when the envelope says failure), -1 for a connection
error, -2 for a request given up after ``--request-timeout`` seconds.

Usage: python -m bench.driver --ports 8080[,8081] --jobs FILE --tokens FILE
       --rate 500 --out FILE [--connections 64] [--request-timeout 10] [--open-first]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import time

import orjson

from bench import http


async def main(args: argparse.Namespace) -> None:
    ports = [int(p) for p in args.ports.split(",")]
    tokens = args.tokens.read_text().split()
    jobs = []
    for line in args.jobs.read_text().splitlines():
        order_id, number, customer = line.split()
        jobs.append((int(order_id), number, int(customer)))
    per_port = max(1, args.connections // len(ports))
    pools = [http.Pool("127.0.0.1", port, per_port) for port in ports]
    heads = [
        [
            http.head(
                "PUT",
                "/user/order/payment",
                port,
                {"authentication": token, "Content-Type": "application/json"},
            )
            for token in tokens
        ]
        for port in ports
    ]
    if args.open_first:
        # Connections made during a burst queue in the kernel's and the
        # client's connection setup, before the server sees a request.
        for pool in pools:
            await pool.open()
    results: list[tuple[int, int, int, int, int]] = []

    async def pay(k: int, order_id: int, number: str, customer: int, due_us: int) -> None:
        sent = time.time_ns() // 1000
        status = 0
        try:
            async with asyncio.timeout(args.request_timeout or None):
                code, body = await pools[k % len(pools)].request(
                    heads[k % len(pools)][customer], b'{"orderNumber":"%s"}' % number.encode()
                )
            status = code if b'"code":1' in body else -code
        except TimeoutError:  # before OSError, of which it is a kind
            status = -2
        except (OSError, http.HttpError):
            status = -1
        results.append((order_id, due_us, sent, time.time_ns() // 1000, status))

    loop = asyncio.get_running_loop()
    tasks = []
    start = loop.time() + 0.1
    wall0 = time.time_ns() // 1000 + 100_000
    interval = 1.0 / args.rate
    for k, (order_id, number, customer) in enumerate(jobs):
        due = start + k * interval
        delay = due - loop.time()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        due_us = wall0 + int(k * interval * 1e6)
        tasks.append(loop.create_task(pay(k, order_id, number, customer, due_us)))
    elapsed = loop.time() - start
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), args.timeout)
    for pool in pools:
        pool.close()
    with args.out.open("w") as out:
        for row in results:
            out.write(" ".join(map(str, row)) + "\n")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        orjson.dumps(
            {
                "sent": len(jobs),
                "answered": len(results),
                "ok": sum(1 for r in results if r[4] == 200),
                "schedule_seconds": elapsed,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
            }
        ).decode(),
        flush=True,
    )


def options() -> argparse.Namespace:
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ports", required=True)
    parser.add_argument("--jobs", type=Path, required=True)
    parser.add_argument("--tokens", type=Path, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument(
        "--open-first",
        action="store_true",
        help="open every connection before the first request (as a proxy's upstream pool)",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=0.0,
        help="give a request up after this many seconds, as a customer's app would (0: never)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    arguments = options()
    try:
        import uvloop

        uvloop.run(main(arguments))
    except ImportError:
        asyncio.run(main(arguments))
