"""The service clock from settings, and the admin endpoint that moves a manual clock.

`DONDOC_CLOCK=manual` gives a service a `ManualClock` (starting at
`DONDOC_MANUAL_CLOCK_START`, or now) so demos and end-to-end tests can make deadlines pass
on demand. Each process has its own clock: the endpoint moves the clock of the process that
serves it (run such a service with `--role all`).
"""


from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Annotated

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from dondoc_contracts import Role
from dondoc_platform.auth import Principal
from dondoc_platform.clock import Clock, ManualClock, SystemClock
from dondoc_platform.errors import DomainError
from dondoc_platform.http import ErrorBody, require_roles
from dondoc_platform.settings import ServiceSettings


def clock_from_settings(settings: ServiceSettings) -> Clock:
    if settings.clock == "manual":
        return ManualClock(settings.manual_clock_start or datetime.now(timezone.utc))
    return SystemClock()


class ClockState(BaseModel):
    now: AwareDatetime
    manual: bool = Field(description="true when the clock only moves through this endpoint")


class MoveClock(BaseModel):
    """Either a moment to move to, or a number of seconds to move forward (never back)."""

    model_config = ConfigDict(extra="forbid")

    to: AwareDatetime | None = None
    advance_seconds: int | None = Field(None, ge=0, le=100 * 366 * 86400)

    @model_validator(mode="after")
    def _one_of(self) -> "MoveClock":
        if (self.to is None) == (self.advance_seconds is None):
            raise ValueError("give exactly one of 'to' and 'advance_seconds'")
        return self


def clock_router(clock: Clock, authenticated: Callable[..., Principal]) -> APIRouter:
    """`GET /admin/clock` and `POST /admin/clock` (admin only)."""
    router = APIRouter(prefix="/admin", tags=["administration"])
    admin = require_roles(authenticated, Role.ADMIN)

    @router.get("/clock", response_model=ClockState, summary="The service's current time",
                responses={403: {"model": ErrorBody}})
    def read_clock(principal: Annotated[Principal, admin]) -> ClockState:
        return ClockState(now=clock.now(), manual=isinstance(clock, ManualClock))

    @router.post("/clock", response_model=ClockState, summary="Move a manual clock forward",
                 responses={403: {"model": ErrorBody}, 409: {"model": ErrorBody}})
    def move_clock(body: MoveClock, principal: Annotated[Principal, admin]) -> ClockState:
        if not isinstance(clock, ManualClock):
            raise DomainError("clock_not_manual",
                              "Đồng hồ của dịch vụ là đồng hồ hệ thống (DONDOC_CLOCK=system)",
                              "The service runs on the system clock (DONDOC_CLOCK=system)",
                              field="to", status=409)
        target = body.to if body.to is not None else clock.now() + timedelta(
            seconds=body.advance_seconds or 0)
        if target < clock.now():
            raise DomainError("clock_backwards", "Đồng hồ không được lùi về quá khứ",
                              "The clock does not go backwards", field="to", status=409)
        clock.set(target)
        return ClockState(now=clock.now(), manual=True)

    return router
