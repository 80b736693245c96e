"""A shop's escalation ladder: when unaccepted orders ring louder, notify people and
are cancelled (``/admin/shop/escalation``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import ConfigDict, Field

from orderbell.domain.escalation import LIMITS
from orderbell.services import escalation
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import Body, WholeNumber

router = APIRouter(prefix="/admin/shop", tags=["escalation"])


def _bounds(name: str) -> Any:
    low, high = LIMITS[name]
    return Field(ge=low, le=high)


WarnSeconds = Annotated[WholeNumber | None, _bounds("warnSeconds")]
NotifySeconds = Annotated[WholeNumber | None, _bounds("notifySeconds")]
NotifyRepeatSeconds = Annotated[WholeNumber | None, _bounds("notifyRepeatSeconds")]
AutoCancelMinutes = Annotated[WholeNumber | None, _bounds("autoCancelMinutes")]


class LadderChange(Body):
    """Some of the shop's own values: a whole number sets one, ``null`` resets it to the
    deployment's default, a field left out stays as it is."""

    # A misspelt field would otherwise change nothing without a word.
    model_config = ConfigDict(extra="forbid")

    warn_seconds: WarnSeconds = None
    notify_seconds: NotifySeconds = None
    notify_repeat_seconds: NotifyRepeatSeconds = None
    auto_cancel_minutes: AutoCancelMinutes = None


@router.get("/escalation")
async def get_ladder(me: Merchant, parts: Parts) -> dict[str, Any]:
    """Your shop's escalation ladder: the values that apply (`warnSeconds`,
    `notifySeconds`, `notifyRepeatSeconds`, `autoCancelMinutes`; 0 minutes: no
    auto-cancel), which of them are your own (`own`), and the deployment's `defaults`."""
    ladder = await escalation.ladder_of(parts.database, me.shop, parts.escalation.defaults)
    return ok(ladder.public())


@router.put("/escalation")
async def put_ladder(body: LadderChange, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Change your shop's ladder: a whole number sets a value, `null` goes back to the
    default, a field left out stays. The steps must come in order (warning no later
    than the first notification, both before the auto-cancel). Orders waiting now
    follow the new ladder from the next sweep on."""
    changes = {
        name: getattr(body, field)
        for field, name in (
            ("warn_seconds", "warnSeconds"),
            ("notify_seconds", "notifySeconds"),
            ("notify_repeat_seconds", "notifyRepeatSeconds"),
            ("auto_cancel_minutes", "autoCancelMinutes"),
        )
        if field in body.model_fields_set
    }
    ladder = await escalation.change_ladder(
        parts.outbox, me.shop, changes, parts.escalation.defaults
    )
    return ok(ladder.public())
