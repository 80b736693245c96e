"""Addresses written out as Chinese apps write them."""

from __future__ import annotations

import pytest

from orderbell.domain.addresses import full_address, tidy_address


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("北京市", "北京市", "海淀区", "中关村大街1号"), "北京市海淀区中关村大街1号"),
        (("上海市", "上海市", "浦东新区", "世纪大道8号"), "上海市浦东新区世纪大道8号"),
        (("重庆市", "重庆市", "渝中区", "解放碑"), "重庆市渝中区解放碑"),
        (("广东省", "深圳市", "南山区", "科技园"), "广东省深圳市南山区科技园"),
        (("", "", "", "测试路 1 号"), "测试路 1 号"),
        (("浙江省", "杭州市", "", "西湖边"), "浙江省杭州市西湖边"),
        ((" 北京市 ", "北京市", "海淀区", " 8号 "), "北京市海淀区8号"),
        # A detail that repeats the regions is not written after them again.
        (("北京市", "北京市", "海淀区", "北京市海淀区中关村"), "北京市海淀区中关村"),
    ],
)
def test_each_region_is_written_once(parts: tuple[str, str, str, str], expected: str) -> None:
    assert full_address(*parts) == expected


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("北京市北京市海淀区中关村大街1号", "北京市海淀区中关村大街1号"),
        ("天津市天津市和平区", "天津市和平区"),
        ("北京北京市朝阳区", "北京市朝阳区"),
        ("广东省深圳市南山区", "广东省深圳市南山区"),
        ("测试路 1 号", "测试路 1 号"),
        ("北京市海淀区北京市场", "北京市海淀区北京市场"),
    ],
)
def test_a_stored_address_with_a_doubled_municipality_is_tidied(stored: str, expected: str) -> None:
    assert tidy_address(stored) == expected
