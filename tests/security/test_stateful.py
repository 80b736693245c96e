"""A stateful property test against a real server: customers and merchants of
two shops do anything to any order, in any order, and every answer is what
the rules predict; no order is changed by someone it does not belong to, no
paid order has other than one new-order alert, nothing is half-written."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from orderbell.domain.errors import BusinessError
from orderbell.domain.orders import Action, OrderState, OrderStatus, PayStatus, apply
from tests.security.attack import broken_invariants, rows, serve
from tests.support.servers import Api, Server, new_shop

MAX_REMINDERS = 2


@dataclass(frozen=True)
class Cast:
    """Who acts: two customers with an address each, two shops with a merchant each."""

    customers: dict[int, tuple[str, int]]  # customer -> (token, address id)
    merchants: dict[int, str]  # shop -> token
    dishes: dict[int, int]  # shop -> a dish of it


@dataclass
class Order:
    id: int
    number: str
    shop: int
    customer: int
    state: OrderState = field(
        default_factory=lambda: OrderState(OrderStatus.PENDING_PAYMENT, PayStatus.UNPAID)
    )
    paid: bool = False
    reminders: int = 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(
        Path(tmp_path_factory.mktemp("stateful")),
        reminder_interval_seconds="0",
        reminder_max_per_order=str(MAX_REMINDERS),
        scheduled_tasks="false",
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def cast(server: Server) -> Cast:
    async def make() -> Cast:
        api = Api(server)
        try:
            shops = [await new_shop(server.database_url) for _ in range(2)]
            merchants = {s.shop_id: await api.merchant_token(s.username) for s in shops}
            customers = {i: await api.new_customer() for i in (1, 2)}
            return Cast(customers, merchants, {s.shop_id: s.dish_ids[0] for s in shops})
        finally:
            await api.aclose()

    return asyncio.run(make())


MERCHANT_MOVES = {
    Action.CONFIRM: ("PUT", "/admin/order/confirm", lambda o: {"id": o.id}),
    Action.REJECT: (
        "PUT",
        "/admin/order/rejection",
        lambda o: {"id": o.id, "rejectionReason": "r"},
    ),
    Action.MERCHANT_CANCEL: (
        "PUT",
        "/admin/order/cancel",
        lambda o: {"id": o.id, "cancelReason": "c"},
    ),
    Action.DELIVER: ("PUT", "/admin/order/delivery/{id}", None),
    Action.COMPLETE: ("PUT", "/admin/order/complete/{id}", None),
}


class Shops(RuleBasedStateMachine):
    """The model: ``apply`` for the rules, ownership for who may act."""

    def __init__(self, server: Server, cast: Cast) -> None:
        super().__init__()
        self.server = server
        self.cast = cast
        self.http = httpx.Client(base_url=server.base_url, timeout=30)
        self.orders: list[Order] = []

    def teardown(self) -> None:
        self.http.close()

    def _customer(self, who: int) -> dict[str, str]:
        return {"authentication": self.cast.customers[who][0]}

    @rule(who=st.sampled_from([1, 2]), shop_index=st.sampled_from([0, 1]))
    def place(self, who: int, shop_index: int) -> None:
        shop = sorted(self.cast.merchants)[shop_index]
        headers = self._customer(who)
        self.http.delete("/user/shoppingCart/clean", headers=headers).raise_for_status()
        self.http.post(
            "/user/shoppingCart/add", json={"dishId": self.cast.dishes[shop]}, headers=headers
        ).raise_for_status()
        response = self.http.post(
            "/user/order/submit",
            json={"addressBookId": self.cast.customers[who][1]},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        self.orders.append(Order(data["id"], data["orderNumber"], shop, who))

    def _expect(self, order: Order, action: Action, allowed: bool) -> int:
        """The status the server must answer, updating the model if the move happens."""
        if not allowed:
            return 404
        try:
            transition = apply(order.state, action)
        except BusinessError:
            return 400
        order.state = transition.state
        if action is Action.PAY and transition.changed:
            order.paid = True
        return 200

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), who=st.sampled_from([1, 2]))
    def customer_pays(self, data: st.DataObject, who: int) -> None:
        order = data.draw(st.sampled_from(self.orders))
        expected = self._expect(order, Action.PAY, order.customer == who)
        response = self.http.put(
            "/user/order/payment", json={"orderNumber": order.number}, headers=self._customer(who)
        )
        assert response.status_code == expected, (response.text, order)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), who=st.sampled_from([1, 2]))
    def customer_cancels(self, data: st.DataObject, who: int) -> None:
        order = data.draw(st.sampled_from(self.orders))
        expected = self._expect(order, Action.CUSTOMER_CANCEL, order.customer == who)
        response = self.http.put(f"/user/order/cancel/{order.id}", headers=self._customer(who))
        assert response.status_code == expected, (response.text, order)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), who=st.sampled_from([1, 2]))
    def customer_reminds(self, data: st.DataObject, who: int) -> None:
        order = data.draw(st.sampled_from(self.orders))
        if order.customer != who:
            expected = 404
        elif order.state.pay_status is not PayStatus.PAID or order.state.status in (
            OrderStatus.COMPLETED,
            OrderStatus.CANCELLED,
        ):
            expected = 400
        elif order.reminders >= MAX_REMINDERS:
            expected = 429
        else:
            expected = 200
            order.reminders += 1
        response = self.http.get(f"/user/order/reminder/{order.id}", headers=self._customer(who))
        assert response.status_code == expected, (response.text, order)

    @precondition(lambda self: self.orders)
    @rule(
        data=st.data(),
        shop_index=st.sampled_from([0, 1]),
        action=st.sampled_from(list(MERCHANT_MOVES)),
    )
    def merchant_moves(self, data: st.DataObject, shop_index: int, action: Action) -> None:
        order = data.draw(st.sampled_from(self.orders))
        shop = sorted(self.cast.merchants)[shop_index]
        expected = self._expect(order, action, order.shop == shop)
        method, path, body = MERCHANT_MOVES[action]
        response = self.http.request(
            method,
            path.format(id=order.id),
            json=body(order) if body else None,
            headers={"token": self.cast.merchants[shop]},
        )
        assert response.status_code == expected, (response.text, order, shop)

    @invariant()
    def the_database_agrees_with_the_model(self) -> None:
        for order in self.orders:
            [(status, pay, new_order_alerts, reminders)] = rows(
                self.server,
                "SELECT status, pay_status, "
                "(SELECT COUNT(*) FROM alert WHERE order_id = o.id AND type = 1), "
                "(SELECT COUNT(*) FROM alert WHERE order_id = o.id AND type = 2) "
                "FROM orders o WHERE id = ?",
                order.id,
            )
            assert (status, pay) == (order.state.status, order.state.pay_status), order
            assert new_order_alerts == (1 if order.paid else 0), order
            assert reminders == order.reminders, order


def test_any_sequence_of_moves_by_anyone_keeps_the_rules(server: Server, cast: Cast) -> None:
    run_state_machine_as_test(
        lambda: Shops(server, cast),
        settings=settings(max_examples=12, stateful_step_count=25, deadline=None, database=None),
    )
    assert broken_invariants(server, max_reminders=MAX_REMINDERS) == {}
