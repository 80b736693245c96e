"""The README and docs/ say what the code does: settings, close codes, frames, modules.

The tests read the markdown tables and hold them to the code itself (the
``Settings`` class, ``orderbell.protocol``, a live console shutting down, an
alert's frame, the package tree, the ``orderbell`` command), so a setting
added without a README row, or a close code changed without the docs, fails
here.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import typer

from orderbell import protocol
from orderbell.cli import app
from orderbell.domain.alerts import Alert, AlertType
from orderbell.settings import DEVELOPMENT_SECRET, Settings
from orderbell.web.live_console import LiveConsole, LiveConsoles

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "orderbell"
README = ROOT / "README.md"
PROTOCOL = ROOT / "docs" / "protocol.md"
DEPLOY = ROOT / "docs" / "deploy.md"

Row = dict[str, str]


def cells(line: str) -> list[str]:
    """The cells of one table line; a ``|`` inside backticks stays in its cell."""
    found: list[str] = []
    current: list[str] = []
    in_code = False
    for char in line.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            found.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    found.append("".join(current).strip())
    return found


def tables(text: str) -> list[list[Row]]:
    """Every markdown table of ``text``, as rows keyed by the header's cells."""
    found: list[list[Row]] = []
    lines = text.splitlines()
    i = 0
    while i + 1 < len(lines):
        header, rule = lines[i].strip(), lines[i + 1].strip()
        if header.startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", rule):
            names = cells(header)
            rows: list[Row] = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                values = cells(lines[i])
                assert len(values) == len(names), f"a row of the wrong width: {lines[i]!r}"
                rows.append(dict(zip(names, values, strict=True)))
                i += 1
            found.append(rows)
        else:
            i += 1
    return found


def table(path: Path, *columns: str) -> list[Row]:
    """The one table of ``path`` whose header is ``columns``."""
    matching = [t for t in tables(path.read_text()) if t and tuple(t[0]) == columns]
    assert len(matching) == 1, f"{path.name} should have one table headed {columns}"
    return matching[0]


def unquoted(cell: str) -> str:
    return cell.strip().strip("`")


# -- settings -----------------------------------------------------------------


def env_names() -> dict[str, str]:
    """Each setting's environment variable, and the field it sets."""
    prefix = Settings.model_config.get("env_prefix", "")
    return {
        (field.alias or f"{prefix}{name}").upper(): name
        for name, field in Settings.model_fields.items()
    }


def documented_default(value: Any) -> str:
    """How the README's settings table writes a default."""
    if value == DEVELOPMENT_SECRET:
        # The table does not advertise the development secret itself.
        return "a development secret"
    if value is None or value == []:
        return "(none)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    if isinstance(value, list):
        return "`" + ",".join(str(item) for item in value) + "`"
    return f"`{value}`"


def settings_rows() -> dict[str, Row]:
    rows = table(README, "variable", "default", "meaning")
    by_name = {unquoted(row["variable"]): row for row in rows}
    assert len(by_name) == len(rows), "a variable has two rows in the README"
    return by_name


def test_every_setting_has_a_readme_row_with_its_variable_and_default() -> None:
    rows = settings_rows()
    wrong = []
    for variable, name in env_names().items():
        row = rows.get(variable)
        default = Settings.model_fields[name].get_default(call_default_factory=True)
        expected = documented_default(default)
        if row is None:
            wrong.append(f"{variable}: no row (default {expected})")
        elif not row["default"].startswith(expected):
            wrong.append(f"{variable}: default {row['default']!r}, the code's is {expected}")
        elif not row["meaning"]:
            wrong.append(f"{variable}: no meaning")
    assert not wrong, "README's settings table:\n" + "\n".join(wrong)


def test_no_readme_row_names_a_setting_that_does_not_exist() -> None:
    unknown = sorted(set(settings_rows()) - set(env_names()))
    assert not unknown, f"README's settings table names settings that do not exist: {unknown}"


# -- close codes ----------------------------------------------------------------


def close_codes() -> dict[int, str]:
    """Every close code ``orderbell.protocol`` defines, and its constant's name."""
    codes = {
        value: name
        for name, value in vars(protocol).items()
        if name.startswith("CLOSE_") and isinstance(value, int)
    }
    assert len(codes) == len([n for n in vars(protocol) if n.startswith("CLOSE_")])
    return codes


def shutdown_code() -> int:
    """The code a live console is closed with when its server stops."""

    class Transport:
        def __init__(self) -> None:
            self.written = b""

        def write(self, data: bytes) -> None:
            self.written += bytes(data)

        def is_closing(self) -> bool:
            return False

        def close(self) -> None:
            pass

    class Hub:
        def replace(self, old: Any, new: Any) -> bool:
            return True

        async def leave(self, console: Any) -> None:
            pass

    owner = LiveConsoles(Hub(), heartbeat=20.0, heartbeat_timeout=20.0)
    live = LiveConsole(
        owner, 1, control_frames=False, max_buffer=1 << 20, replayed_up_to=0, connections=set()
    )
    transport = Transport()
    live.connection_made(transport)  # type: ignore[arg-type]
    live.shutdown()
    first, size = transport.written[0], transport.written[1]
    assert first == 0x80 | protocol.OP_CLOSE and size >= 2, transport.written
    code: int = struct.unpack("!H", transport.written[2:4])[0]
    return code


def test_protocol_md_lists_exactly_the_close_codes_the_server_sends() -> None:
    rows = table(PROTOCOL, "code", "constant", "meaning", "what the console should do")
    listed: dict[int, str] = {}
    for row in rows:
        if not row["code"].isdigit():
            # A refusal before any socket (HTTP 403) has no code of ours.
            assert row["constant"] in ("", "—"), row
            continue
        code = int(row["code"])
        assert code not in listed, f"close code {code} has two rows"
        assert row["meaning"] and row["what the console should do"], row
        listed[code] = unquoted(row["constant"])
    defined = close_codes()
    wrong = [f"{code}: not a close code of orderbell.protocol" for code in listed.keys() - defined]
    wrong += [f"{code} {name}: no row" for code, name in defined.items() if code not in listed]
    wrong += [
        f"{code}: the row says {listed[code]}, orderbell.protocol {name}"
        for code, name in defined.items()
        if code in listed and listed[code] != name
    ]
    assert not wrong, "protocol.md's close codes:\n" + "\n".join(wrong)


def test_the_readme_names_only_close_codes_the_server_sends() -> None:
    named = {int(code) for code in re.findall(r"\*\*(\d{4})\*\*", README.read_text())}
    assert named, "the README names no close code"
    assert named <= set(close_codes()), sorted(named - set(close_codes()))


def statements(text: str) -> list[str]:
    """Table rows, and the clauses (split at ``;``) of every other paragraph."""
    found: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip().splitlines()
        if lines and all(line.lstrip().startswith("|") for line in lines):
            found.extend(lines)
        else:
            found.extend(" ".join(lines).split(";"))
    return found


@pytest.mark.parametrize("path", [README, PROTOCOL, DEPLOY], ids=lambda p: p.name)
def test_the_docs_name_the_close_code_a_stopping_server_sends(path: Path) -> None:
    code = shutdown_code()
    assert code in close_codes()
    about_shutdown = [
        s
        for s in statements(path.read_text())
        if re.search(r"shut(ting)?\s*down|SIGTERM", s, re.IGNORECASE)
        and re.search(r"\b(10\d\d|4\d\d\d)\b", s)
    ]
    assert about_shutdown, f"{path.name} says nothing of the close code on shutdown"
    wrong = [s.strip() for s in about_shutdown if not re.search(rf"\b{code}\b", s)]
    assert not wrong, f"{path.name}: a stopping server closes consoles with {code}, not: {wrong}"


# -- alert frames -----------------------------------------------------------------


def test_protocol_md_describes_every_field_an_alert_frame_can_carry() -> None:
    # An alert with every optional part: raised through the publish API, handled.
    alert = Alert(
        shop_id=1,
        seq=7,
        type=AlertType.NEW_ORDER,
        order_id=None,
        order_number="1700000000000",
        content="订单号：1700000000000",
        created_at=datetime(2026, 11, 26, 21, 0),
        handled_at=datetime(2026, 11, 26, 21, 1),
        handled_action="dismissed",
        handled_by=3,
        source="api",
    )
    rows = table(PROTOCOL, "field", "meaning")
    assert {unquoted(row["field"]) for row in rows} == set(alert.frame())


# -- where things live, the command line -----------------------------------------


def test_the_readme_names_modules_that_exist() -> None:
    rows = table(README, "part", "module")
    missing = []
    for row in rows:
        paths = [
            p for p in re.findall(r"`([^`]+)`", row["module"]) if re.fullmatch(r"[\w/]+(\.py|/)", p)
        ]
        assert paths, row
        # ``cli/`` (``server.py``, ...): names after a folder are inside it.
        folder = PACKAGE / paths[0] if paths[0].endswith("/") else PACKAGE
        for path in paths:
            if not ((PACKAGE / path).exists() or (folder / path).exists()):
                missing.append(path)
    assert not missing, (
        f"README's 'Where things live' names what is not in src/orderbell: {missing}"
    )


def resolve(words: list[str]) -> tuple[list[str], Any]:
    """The command ``words`` call (walking subcommand names), and its path."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in words:
        if word in getattr(command, "commands", {}):
            command = command.commands[word]
            path.append(word)
    return path, command


def command_line_rows() -> list[list[str]]:
    """The README's command table as lists of words after ``orderbell``. In
    ``orderbell shop api-key create --shop ID`` / ``revoke ...``, the second
    names a command of the first one's group."""
    commands = []
    for row in table(README, "command", "what it does"):
        variants = [unquoted(v).split() for v in row["command"].split(" / ")]
        assert variants[0][0] == "orderbell", row
        first = variants[0][1:]
        commands.append(first)
        group = resolve(first)[0][:-1]
        commands.extend(group + words for words in variants[1:])
    return commands


def test_the_readme_command_table_names_commands_and_options_that_exist() -> None:
    wrong = []
    for words in command_line_rows():
        path, command = resolve(words)
        if not path or hasattr(command, "commands"):
            wrong.append(f"orderbell {' '.join(words)}: no such command")
            continue
        options = {opt for param in command.params for opt in param.opts}
        for word in words:
            option = word.strip("[]")
            if option.startswith("-") and option not in options:
                wrong.append(f"orderbell {' '.join(path)} has no option {option}")
    assert not wrong, wrong
