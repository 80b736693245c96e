"""A kitchen ticket as ESC/POS bytes, composed with ``python-escpos``.

The bytes are composed on a ``Dummy`` printer (which only collects them) and
written to the printer's socket by the print sender, so that composing never
blocks on a printer that does not answer. Chinese text goes out in GB18030,
the character set of the receipt printers sold in China, as python-escpos
does for any line with Chinese characters; lines of plain ASCII go through
its code pages as usual.
"""

from __future__ import annotations

from escpos.printer import Dummy

from orderbell.domain.tickets import Align, Size, Ticket

#: ESC/POS "select Chinese character mode" (FS &): printers with a Chinese
#: font read what follows as two-byte GB characters.
CHINESE_MODE = b"\x1c\x26"


def render(ticket: Ticket) -> bytes:
    """The ESC/POS bytes of ``ticket``: initialise, the lines, feed and a full cut."""
    printer = Dummy()
    printer.hw("INIT")
    printer._raw(CHINESE_MODE)
    for line in ticket.lines:
        large = line.size is Size.LARGE
        printer.set(
            align="center" if line.align is Align.CENTER else "left",
            bold=line.bold,
            double_width=large,
            double_height=large,
            normal_textsize=not large,
        )
        if line.text.isascii():
            printer.textln(line.text)
        else:
            # As python-escpos's own encoder does for Chinese text; it would
            # send a line like "（微辣）" or "￥" through a code page instead.
            printer._raw(line.text.encode("gb18030") + b"\n")
    printer.set(align="left", bold=False, normal_textsize=True)
    printer.cut()
    output: bytes = printer.output
    return output
