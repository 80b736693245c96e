"""Kitchen tickets: what a receipt printer prints for an order, laid out in columns.

A ticket is a list of lines, each with a size (``large`` lines print at
double width and height) and an alignment. The layout counts display
columns, not characters: a Chinese character takes two columns on a
receipt printer, as it does in a terminal. The same ticket is turned into
printer bytes (``services.printing.escpos``) or into a plain text preview.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

#: Paper widths a printer may have, in millimetres, and how many columns of
#: the printer's normal font (12 dots wide) fit on them.
COLUMNS = {58: 32, 80: 48}


class Size(StrEnum):
    """How big a line prints."""

    NORMAL = "normal"
    LARGE = "large"


class Align(StrEnum):
    """Where a line sits across the paper."""

    LEFT = "left"
    CENTER = "center"


@dataclass(frozen=True, slots=True)
class TicketLine:
    """One printed line; ``rule`` lines are a row of dashes across the paper."""

    text: str
    size: Size = Size.NORMAL
    align: Align = Align.LEFT
    bold: bool = False
    rule: bool = False


@dataclass(frozen=True, slots=True)
class Dish:
    """A dish of an order as the kitchen needs it."""

    name: str
    quantity: int
    amount: Decimal
    flavor: str | None = None


@dataclass(frozen=True, slots=True)
class TicketOrder:
    """What a ticket shows of an order (times already in the shop's zone)."""

    shop_name: str
    number: str
    paid_at: datetime | None
    dishes: Sequence[Dish]
    remark: str
    address: str
    consignee: str
    phone: str
    amount: Decimal
    tableware: int = 0
    estimated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Ticket:
    """A laid-out ticket for paper ``width`` millimetres wide."""

    width: int
    lines: tuple[TicketLine, ...]

    @property
    def columns(self) -> int:
        """Columns of the normal font across the paper."""
        return COLUMNS[self.width]


def display_width(text: str) -> int:
    """Columns ``text`` takes on a receipt printer: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrap(text: str, columns: int) -> list[str]:
    """Split ``text`` into lines of at most ``columns`` display columns (at least one line).

    Chinese has no spaces to break at, so lines break at any character; a
    line break in the text starts a new line.
    """
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line, width = "", 0
        for char in paragraph:
            w = display_width(char)
            if width + w > columns and line:
                lines.append(line)
                line, width = "", 0
            line += char
            width += w
        lines.append(line)
    return lines


def phone_tail(phone: str) -> str:
    """The last four digits, which is all a ticket shows of a customer's phone."""
    digits = "".join(c for c in phone if c.isdigit())
    return f"尾号{digits[-4:]}" if digits else ""


def _pair(left: str, right: str, columns: int) -> list[str]:
    """``left`` and ``right`` on one line, ``right`` flush with the paper's edge;
    ``left`` wraps first when both do not fit."""
    room = columns - display_width(right) - 1
    if room < 4:
        return [*wrap(left, columns), right.rjust(columns)]
    parts = wrap(left, room)
    last = parts[-1]
    parts[-1] = last + " " * (columns - display_width(last) - display_width(right)) + right
    return parts


def _money(amount: Decimal) -> str:
    return f"￥{amount:.2f}"


def layout(order: TicketOrder, *, width: int, reprint: bool = False) -> Ticket:
    """Lay out ``order``'s kitchen ticket for paper ``width`` millimetres wide.

    Raises:
        ValueError: a paper width orderbell cannot lay out (58 and 80 mm are known).
    """
    if width not in COLUMNS:
        raise ValueError(f"paper width must be one of {sorted(COLUMNS)} mm, not {width}")
    columns = COLUMNS[width]
    # Large lines print twice as wide: half the columns fit.
    large = columns // 2
    out: list[TicketLine] = []

    def add(text: str, **kw: object) -> None:
        size = kw.get("size", Size.NORMAL)
        for part in wrap(text, large if size is Size.LARGE else columns):
            out.append(TicketLine(part, **kw))  # type: ignore[arg-type]

    def rule() -> None:
        out.append(TicketLine("-" * columns, rule=True))

    if reprint:
        add("【补打】", align=Align.CENTER, bold=True)
    add(order.shop_name, align=Align.CENTER, bold=True)
    add(f"#{order.number[-4:]}", size=Size.LARGE, align=Align.CENTER, bold=True)
    add(f"订单号 {order.number}", align=Align.CENTER)
    if order.paid_at is not None:
        add(f"下单 {order.paid_at:%Y-%m-%d %H:%M}", align=Align.CENTER)
    if order.estimated_at is not None:
        add(f"预计送达 {order.estimated_at:%H:%M}", align=Align.CENTER, bold=True)
    rule()
    for dish in order.dishes:
        name = f"{dish.name}（{dish.flavor}）" if dish.flavor else dish.name
        amount = f"x{dish.quantity}  {_money(dish.amount * dish.quantity)}"
        for part in _pair(name, amount, columns):
            out.append(TicketLine(part, bold=True))
    rule()
    if order.remark:
        add(f"备注：{order.remark}", size=Size.LARGE, bold=True)
    if order.tableware:
        add(f"餐具：{order.tableware} 份")
    add(f"地址：{order.address}")
    add(f"{order.consignee} {phone_tail(order.phone)}".strip())
    rule()
    for part in _pair("实付", _money(order.amount), columns):
        out.append(TicketLine(part, bold=True))
    return Ticket(width, tuple(out))


def preview(ticket: Ticket) -> str:
    """The ticket as plain text, as wide as the paper (large lines are marked
    with their doubled width by letter-spacing, so the preview reads like the paper)."""
    columns = ticket.columns
    rows: list[str] = []
    for line in ticket.lines:
        text = line.text
        if line.size is Size.LARGE:
            text = "".join(c + (" " if display_width(c) == 1 else "") for c in text).rstrip()
        if line.align is Align.CENTER:
            pad = max(0, columns - display_width(text)) // 2
            text = " " * pad + text
        rows.append(text.rstrip())
    return "\n".join(rows) + "\n"


def dishes(rows: Iterable[tuple[str, int, Decimal, str | None]]) -> list[Dish]:
    """Dishes from (name, quantity, unit amount, flavour) rows."""
    return [Dish(name, quantity, amount, flavor) for name, quantity, amount, flavor in rows]
