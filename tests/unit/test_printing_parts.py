"""The pure parts of printing: a printer's address, the ESC/POS status bits, and the
CloudPRNT status codes."""

from __future__ import annotations

import pytest

from orderbell.domain.errors import BusinessError
from orderbell.services.printing.cloudprnt import status_of, succeeded
from orderbell.services.printing.printers import parse_address
from orderbell.services.printing.sender import cover_open, paper_out


def test_addresses_are_host_and_port() -> None:
    assert parse_address("192.168.1.50:9100") == ("192.168.1.50", 9100)
    assert parse_address(" printer.local:9100 ") == ("printer.local", 9100)
    assert parse_address("[fe80::1]:9100") == ("fe80::1", 9100)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "192.168.1.50",
        ":9100",
        "host:",
        "host:0",
        "host:65536",
        "host:９１００",
        "a b:1",
        "fe80::1:9100",
        "[nope]:9100",
        "user@host:9100",
        "x" * 300 + ":1",
    ],
)
def test_other_addresses_are_refused(bad: str) -> None:
    with pytest.raises(BusinessError):
        parse_address(bad)


def test_escpos_status_bits() -> None:
    assert not paper_out(0x12) and paper_out(0x72) and not paper_out(0x1E)
    assert not cover_open(0x12) and cover_open(0x16)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("200 OK", "online"),
        ("200%20OK", "online"),
        ("211 Paper low", "paper low"),
        ("410 Out of paper", "paper out"),
        ("411 Paper jam", "paper out"),
        ("420 Cover open", "cover open"),
        ("510 Incompatible media", "error"),
    ],
)
def test_cloudprnt_status_codes(code: str, status: str) -> None:
    assert status_of(code)[0] == status


def test_a_confirmation_code_starting_with_2_or_ok_means_printed() -> None:
    assert succeeded("200 OK") and succeeded("OK") and succeeded("200%20OK")
    assert not succeeded("510 Incompatible media") and not succeeded("")
