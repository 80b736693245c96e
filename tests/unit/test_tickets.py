"""Kitchen tickets: the layout in display columns, and the ESC/POS bytes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from orderbell.domain.tickets import (
    Dish,
    Size,
    TicketOrder,
    display_width,
    layout,
    phone_tail,
    preview,
    wrap,
)
from orderbell.services.printing.escpos import render

ORDER = TicketOrder(
    shop_name="小厨 Demo Kitchen",
    number="17957268367418716",
    paid_at=datetime(2026, 12, 7, 11, 30),
    dishes=[
        Dish("宫保鸡丁", 2, Decimal("28.00"), "微辣"),
        Dish("Coke", 1, Decimal("3.00")),
        Dish("超级无敌豪华至尊海鲜大拼盘加量版本特别长的名字", 1, Decimal("188.00")),
    ],
    remark="不要香菜，多放辣，谢谢！",
    address="北京市海淀区中关村大街1号",
    consignee="张三",
    phone="13812345678",
    amount=Decimal("250.00"),
    tableware=2,
)


def test_chinese_characters_take_two_columns() -> None:
    assert display_width("宫保鸡丁") == 8
    assert display_width("Coke x1") == 7
    assert display_width("（微辣）￥") == 10


def test_wrap_breaks_anywhere_and_keeps_each_line_within_the_columns() -> None:
    lines = wrap("超级无敌豪华至尊海鲜大拼盘", 10)
    assert lines == ["超级无敌豪", "华至尊海鲜", "大拼盘"]
    assert wrap("", 10) == [""]
    assert wrap("a\nb", 10) == ["a", "b"]


@pytest.mark.parametrize("width,columns", [(58, 32), (80, 48)])
def test_no_line_is_wider_than_the_paper(width: int, columns: int) -> None:
    ticket = layout(ORDER, width=width)
    for line in ticket.lines:
        limit = columns // 2 if line.size is Size.LARGE else columns
        assert display_width(line.text) <= limit, line


def test_the_ticket_shows_what_the_kitchen_needs_and_only_the_phone_tail() -> None:
    text = preview(layout(ORDER, width=80))
    for part in (
        "小厨 Demo Kitchen",
        "17957268367418716",
        "2026-12-07 11:30",
        "宫保鸡丁（微辣）",
        "x2",
        "￥56.00",
        "备注：不要香菜",
        "餐具：2 份",
        "北京市海淀区中关村大街1号",
        "尾号5678",
        "￥250.00",
    ):
        assert part in text, part
    assert "13812345678" not in text
    # The order number's last four digits, large (letter-spaced in the preview).
    assert "# 8 7 1 6" in text
    large = [line.text for line in layout(ORDER, width=80).lines if line.size is Size.LARGE]
    assert large[0] == "#8716" and large[1].startswith("备注：")


def test_amounts_stand_flush_with_the_right_edge() -> None:
    lines = preview(layout(ORDER, width=58)).splitlines()
    paid = next(line for line in lines if line.startswith("实付"))
    assert display_width(paid) == 32 and paid.endswith("￥250.00")


def test_phone_tail_and_an_unknown_width() -> None:
    assert phone_tail("138-1234-5678") == "尾号5678"
    assert phone_tail("") == ""
    with pytest.raises(ValueError, match="58, 80"):
        layout(ORDER, width=76)


def test_escpos_bytes_carry_chinese_in_gb18030_and_end_with_a_cut() -> None:
    data = render(layout(ORDER, width=58))
    assert data.startswith(b"\x1b@")  # initialise
    assert b"17957268367418716" in data
    assert "备注：不要香菜".encode("gb18030") in data
    assert "宫保鸡丁（微辣）".encode("gb18030") in data
    assert "不要香菜".encode() not in data  # not UTF-8
    # Large lines: double width and height (ESC ! 0x30), then back to normal.
    assert b"\x1b!0" in data
    # GS V: the cut, after a feed; nothing is printed after it.
    cut = data.rindex(b"\x1dV")
    assert cut > data.rindex("￥250.00".encode("gb18030"))
