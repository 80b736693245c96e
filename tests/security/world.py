"""Two shops, a victim and an attacker on each side, and orders to aim at."""

from __future__ import annotations

from dataclasses import dataclass

from orderbell.services.publishing import create_api_key
from orderbell.services.webhooks import new_secret
from orderbell.storage.database import Database
from orderbell.storage.tables import WebhookEndpoint
from tests.support.servers import Api, Server, new_shop

VICTIM_REMARK = "victim-remark-7Qx"
#: The victim shop's webhook endpoint (TEST-NET: never reached).
VICTIM_HOOK = "http://192.0.2.1/victim-hook-5Rw"


@dataclass(frozen=True)
class World:
    """Shop A is the victim's, shop B the attacker's.

    ``paid`` is a paid order of the victim customer in shop A, reminded
    once; ``unpaid`` one still waiting for payment. The stranger is another
    customer with a dish of shop B in the cart.
    """

    shop_a: int
    shop_b: int
    dishes_a: list[int]
    dishes_b: list[int]
    merchant_a: str
    merchant_b: str
    merchant_a_id: int
    victim: str
    victim_id: int
    victim_phone: str
    victim_address: int
    stranger: str
    stranger_address: int
    paid: dict[str, object]
    unpaid: dict[str, object]
    key_a: str
    key_b: str
    reminder_seq: int
    #: The victim shop's webhook endpoint, and a delivery to it.
    webhook_a: int = 0
    delivery_a: int = 0

    @property
    def secrets(self) -> list[str]:
        """Strings of the victim's that must never reach the attacker."""
        return [
            str(self.paid["orderNumber"]),
            str(self.unpaid["orderNumber"]),
            self.victim_phone,
            VICTIM_REMARK,
            VICTIM_HOOK,
        ]


async def build_world(server: Server) -> World:
    """Set the world up through the API (and the shops and keys in the database)."""
    api = Api(server)
    try:
        kit_a = await new_shop(server.database_url, "Victim Kitchen")
        kit_b = await new_shop(server.database_url, "Attacker Kitchen")
        db = Database(server.database_url)
        try:
            key_a = (await create_api_key(db, kit_a.shop_id, "victim")).key
            key_b = (await create_api_key(db, kit_b.shop_id, "attacker")).key
            async with db.transaction() as session:
                # Straight in the database: the server refuses this address.
                hook = WebhookEndpoint(
                    shop_id=kit_a.shop_id,
                    url=VICTIM_HOOK,
                    events="webhook.test",
                    secret=new_secret(),
                )
                session.add(hook)
                await session.flush()
                webhook_a = hook.id
        finally:
            await db.dispose()
        merchant_a = await api.merchant_token(kit_a.username)
        merchant_b = await api.merchant_token(kit_b.username)
        merchant_a_id = int(
            (
                await api.ok(
                    "POST",
                    "/admin/employee/login",
                    json={"username": kit_a.username, "password": "secret123"},
                )
            )["id"]
        )
        victim, victim_address = await api.new_customer()
        profile = await api.ok("GET", "/user/addressBook/default", token=victim)
        stranger, stranger_address = await api.new_customer()
        paid = await api.place_order(victim, victim_address, [kit_a.dish_ids[0]], VICTIM_REMARK)
        await api.pay(victim, str(paid["orderNumber"]))
        await api.ok("GET", f"/user/order/reminder/{paid['id']}", token=victim)
        open_alerts = await api.ok(
            "GET", "/admin/alert/unhandled", token=merchant_a, header="token"
        )
        reminder_seq = next(a["seq"] for a in open_alerts if a["type"] == 2)
        unpaid = await api.place_order(victim, victim_address, [kit_a.dish_ids[1]], VICTIM_REMARK)
        delivery_a = (
            await api.ok(
                "POST", f"/admin/webhooks/{webhook_a}/test", token=merchant_a, header="token"
            )
        )["id"]
        await api.ok(
            "POST", "/user/shoppingCart/add", token=stranger, json={"dishId": kit_b.dish_ids[0]}
        )
        return World(
            shop_a=kit_a.shop_id,
            shop_b=kit_b.shop_id,
            dishes_a=kit_a.dish_ids,
            dishes_b=kit_b.dish_ids,
            merchant_a=merchant_a,
            merchant_b=merchant_b,
            merchant_a_id=merchant_a_id,
            victim=victim,
            victim_id=int(profile["userId"]),
            victim_phone=str(profile["phone"]),
            victim_address=victim_address,
            stranger=stranger,
            stranger_address=stranger_address,
            paid=paid,
            unpaid=unpaid,
            key_a=key_a,
            key_b=key_b,
            reminder_seq=int(reminder_seq),
            webhook_a=webhook_a,
            delivery_a=int(delivery_a),
        )
    finally:
        await api.aclose()
