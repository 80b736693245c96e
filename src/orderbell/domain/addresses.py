"""How a delivery address is written out, the way Chinese apps write it.

The four municipalities (北京, 上海, 天津, 重庆) are a province and a city
at once: address pickers give "北京市" as both the province and the city,
and gluing the parts together would write "北京市北京市海淀区". Apps write
"北京市海淀区": a part equal to the one before it is written once.
"""

from __future__ import annotations

import re

#: The municipality written twice at the start of an address built before
#: the rule: "北京市北京市…" (or "北京北京市…").
_DOUBLED_CITY = re.compile(r"^(北京|上海|天津|重庆)市?\1市")


def full_address(province: str, city: str, district: str, detail: str) -> str:
    """Province, city, district and detail as one line, each region once.

    A part equal to the one before it (the municipality as province and
    city; a district repeated as the city in some pickers) is dropped, and
    so is a detail that already starts with what comes before it.
    """
    parts: list[str] = []
    for part in (province.strip(), city.strip(), district.strip()):
        if part and (not parts or parts[-1] != part):
            parts.append(part)
    head = "".join(parts)
    detail = detail.strip()
    if head and detail.startswith(head):
        return detail
    return head + detail


def tidy_address(address: str) -> str:
    """An address line stored before ``full_address``, with a doubled municipality written once."""
    return _DOUBLED_CITY.sub(r"\1市", address)
