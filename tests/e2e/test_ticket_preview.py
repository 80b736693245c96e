"""End to end: an order's kitchen ticket as text, on a real server (the console
shows it for shops without a printer)."""

from __future__ import annotations

from tests.support.servers import Api, Server, new_shop


async def test_the_ticket_of_a_paid_order_and_bad_widths(server: Server) -> None:
    kit = await new_shop(server.database_url, "票据小馆")
    api = Api(server)
    try:
        merchant = await api.merchant_token(kit.username)
        customer, address = await api.new_customer()
        placed = await api.place_order(customer, address, kit.dish_ids, remark="少盐")
        await api.pay(customer, placed["orderNumber"])

        path = f"/admin/order/{placed['id']}/ticket"
        ticket = await api.ok("GET", path, token=merchant, header="token")
        assert ticket["width"] == 80 and ticket["columns"] == 48
        text = ticket["text"]
        for part in (
            "票据小馆",
            placed["orderNumber"],
            "宫保鸡丁",
            "米饭",
            "备注：少盐",
            "测试路 1 号",
        ):
            assert part in text, (part, text)
        assert any(line["size"] == "large" for line in ticket["lines"])

        narrow = await api.ok("GET", path, token=merchant, header="token", params={"width": 58})
        assert narrow["columns"] == 32
        assert max(len(line) for line in narrow["text"].splitlines()) <= 32

        bad = await api.call("GET", path, token=merchant, header="token", params={"width": 76})
        assert bad.status_code == 400 and "58, 80" in bad.json()["msg"]
        other = await new_shop(server.database_url)
        stranger = await api.merchant_token(other.username)
        missing = await api.call("GET", path, token=stranger, header="token")
        assert missing.status_code == 404
    finally:
        await api.aclose()
