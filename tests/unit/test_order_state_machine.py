"""Property-based tests of the order state machine: whatever customers, merchants
and the clock do, in whatever order, no order reaches a state that cannot
exist, moves along an edge that does not exist, or raises a second new-order
alert; reminders keep their limits."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from orderbell.domain.errors import BusinessError, NotFound, TooManyRequests
from orderbell.domain.orders import Action, OrderState, OrderStatus, PayStatus, apply, settles
from orderbell.domain.reminders import ReminderPolicy, check_reminder, check_reminder_timing

LEGAL = {
    (OrderStatus.PENDING_PAYMENT, PayStatus.UNPAID),
    (OrderStatus.TO_BE_CONFIRMED, PayStatus.PAID),
    (OrderStatus.CONFIRMED, PayStatus.PAID),
    (OrderStatus.DELIVERY_IN_PROGRESS, PayStatus.PAID),
    (OrderStatus.COMPLETED, PayStatus.PAID),
    (OrderStatus.CANCELLED, PayStatus.UNPAID),
    (OrderStatus.CANCELLED, PayStatus.REFUND),
}
EDGES = {
    (OrderStatus.PENDING_PAYMENT, OrderStatus.TO_BE_CONFIRMED),
    (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED),
    (OrderStatus.TO_BE_CONFIRMED, OrderStatus.CONFIRMED),
    (OrderStatus.TO_BE_CONFIRMED, OrderStatus.CANCELLED),
    (OrderStatus.CONFIRMED, OrderStatus.DELIVERY_IN_PROGRESS),
    (OrderStatus.CONFIRMED, OrderStatus.CANCELLED),
    (OrderStatus.DELIVERY_IN_PROGRESS, OrderStatus.COMPLETED),
    (OrderStatus.DELIVERY_IN_PROGRESS, OrderStatus.CANCELLED),
}
ENDED = {OrderStatus.COMPLETED, OrderStatus.CANCELLED}
CUSTOMER_ACTIONS = [Action.PAY, Action.CUSTOMER_CANCEL]
MERCHANT_ACTIONS = [
    Action.CONFIRM,
    Action.REJECT,
    Action.MERCHANT_CANCEL,
    Action.DELIVER,
    Action.COMPLETE,
]
POLICY = ReminderPolicy(delay=timedelta(seconds=30), interval=timedelta(minutes=5), max_per_order=3)


@dataclass
class Order:
    customer: int
    state: OrderState = field(
        default_factory=lambda: OrderState(OrderStatus.PENDING_PAYMENT, PayStatus.UNPAID)
    )
    paid_at: datetime | None = None
    new_order_alerts: int = 0
    reminders: list[datetime] = field(default_factory=list)
    open_alerts: set[int] = field(default_factory=set)
    history: list[OrderState] = field(default_factory=list)


class Orders(RuleBasedStateMachine):
    """Orders of two customers, moved by anyone in any order, as the services do:
    the rules come from ``apply``, an alert is raised exactly when a payment
    changed the order, and a refused move changes nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.orders: list[Order] = []
        self.now = datetime(2026, 11, 26, 12, 0, 0)

    @rule(customer=st.sampled_from([1, 2]))
    def place(self, customer: int) -> None:
        self.orders.append(Order(customer))

    @rule(seconds=st.integers(0, 900))
    def time_passes(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    def _act(self, order: Order, action: Action) -> None:
        before = order.state
        try:
            transition = apply(before, action)
        except BusinessError:
            return  # refused: nothing changes, nothing is raised
        order.state = transition.state
        if transition.changed:
            order.history.append(before)
        if action is Action.PAY and transition.changed:
            order.paid_at = self.now
            order.new_order_alerts += 1
            order.open_alerts.add(1)
        if transition.changed:
            order.open_alerts -= set(settles(action))

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), action=st.sampled_from([*CUSTOMER_ACTIONS, Action.PAYMENT_TIMEOUT]))
    def customer_or_clock_acts(self, data: st.DataObject, action: Action) -> None:
        self._act(data.draw(st.sampled_from(self.orders)), action)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), action=st.sampled_from(MERCHANT_ACTIONS))
    def merchant_acts(self, data: st.DataObject, action: Action) -> None:
        self._act(data.draw(st.sampled_from(self.orders)), action)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), customer=st.sampled_from([1, 2]))
    def customer_reminds(self, data: st.DataObject, customer: int) -> None:
        order = data.draw(st.sampled_from(self.orders))
        try:
            check_reminder(
                order_customer_id=order.customer,
                customer_id=customer,
                status=order.state.status,
                pay_status=order.state.pay_status,
            )
            check_reminder_timing(
                POLICY, now=self.now, paid_at=order.paid_at, earlier=order.reminders
            )
        except NotFound:
            assert order.customer != customer
            return
        except (BusinessError, TooManyRequests):
            return
        assert order.customer == customer
        assert order.state.pay_status is PayStatus.PAID and order.state.status not in ENDED
        order.reminders.append(self.now)
        order.open_alerts.add(2)

    @invariant()
    def states_exist(self) -> None:
        for order in self.orders:
            assert (order.state.status, order.state.pay_status) in LEGAL

    @invariant()
    def moves_follow_the_edges(self) -> None:
        for order in self.orders:
            path = [*order.history, order.state]
            for a, b in itertools.pairwise(path):
                assert (a.status, b.status) in EDGES

    @invariant()
    def one_new_order_alert_per_paid_order(self) -> None:
        for order in self.orders:
            assert order.new_order_alerts == (1 if order.paid_at is not None else 0)

    @invariant()
    def refunds_only_of_paid_orders(self) -> None:
        for order in self.orders:
            if order.state.pay_status is PayStatus.REFUND:
                assert order.paid_at is not None

    @invariant()
    def reminders_keep_their_limits(self) -> None:
        for order in self.orders:
            assert len(order.reminders) <= POLICY.max_per_order
            if order.reminders:
                assert order.paid_at is not None
                assert order.reminders[0] >= order.paid_at + POLICY.delay
            for a, b in zip(order.reminders, order.reminders[1:], strict=False):
                assert b - a >= POLICY.interval

    @invariant()
    def ended_orders_ring_no_more(self) -> None:
        for order in self.orders:
            if order.state.status in ENDED:
                assert order.open_alerts == set()


Orders.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None, database=None
)
TestOrders = Orders.TestCase
