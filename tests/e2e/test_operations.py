"""Operations: health, readiness, Prometheus metrics that move as alerts flow, JSON logs."""

from __future__ import annotations

from pathlib import Path

import orjson
import websockets

from tests.support.frames import collect
from tests.support.metrics import metric
from tests.support.polling import wait_until
from tests.support.servers import Api, Server, new_shop, running_server


async def test_health_and_readiness(server: Server, api: Api) -> None:
    assert (await api.http.get("/healthz")).json()["data"]["status"] == "ok"
    assert (await api.http.get("/readyz")).json()["data"]["status"] == "ready"


async def test_metrics_move_as_alerts_flow(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            merchant = await api.merchant_token(kit.username)
            customer, address = await api.new_customer()
            before = (await api.http.get("/metrics")).text
            assert metric(before, "orderbell_consoles_connected") == 0
            async with (
                websockets.connect(server.ws_url(merchant, protocol="2")) as c1,
                websockets.connect(server.ws_url(merchant, protocol="2")) as c2,
            ):
                # Registered with the server (hello) and caught up (synced).
                for ws in (c1, c2):
                    assert [f["type"] for f in await collect(ws, 2)] == ["hello", "synced"]
                order = await api.place_order(customer, address, [kit.dish_ids[0]])
                await api.pay(customer, order["orderNumber"])
                await collect(c1, 1)
                await collect(c2, 1)
                during = (await api.http.get("/metrics")).text
                assert metric(during, "orderbell_consoles_connected") == 2
                # Caught up, both are held by the live console path (no ASGI task each).
                assert metric(during, "orderbell_consoles_live") == 2
                assert metric(during, "orderbell_alerts_created_total", '{type="1"}') == 1
                assert metric(during, "orderbell_alert_deliveries_total") == 2
                assert metric(during, "orderbell_delivery_latency_seconds_count") == 1
                assert (
                    metric(during, "orderbell_delivery_latency_seconds_bucket", '{le="1.0"}') == 1
                )
            async with websockets.connect(server.ws_url(merchant, since="0")) as c3:
                await collect(c3, 1)
            after = (await api.http.get("/metrics")).text
            assert metric(after, "orderbell_replayed_alerts_total") == 1
            assert metric(after, "orderbell_slow_console_disconnects_total") == 0
            assert metric(after, "orderbell_broker_reconnects_total") == 0

            async def all_left() -> str | None:
                text = (await api.http.get("/metrics")).text
                return text if metric(text, "orderbell_consoles_live") == 0 else None

            after = await wait_until(all_left, what="the live consoles to be gone")
            assert metric(after, "orderbell_consoles_connected") == 0
        finally:
            await api.aclose()


async def test_json_logs_without_tokens(tmp_path: Path) -> None:
    with running_server(tmp_path, log_format="json", log_level="info") as server:
        api = Api(server)
        try:
            kit = await new_shop(server.database_url)
            merchant = await api.merchant_token(kit.username)
            async with websockets.connect(server.ws_url(merchant, sid="logcheck")):
                pass
            await api.http.get(f"/healthz?token={merchant}")
        finally:
            await api.aclose()
        log = server.log_path.read_text()
    lines = [line for line in log.splitlines() if line.startswith("{")]
    assert lines, log
    entries = [orjson.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    assert any("/ws/logcheck" in e["message"] for e in entries)
    assert merchant not in log
    assert "token=***" in log
