"""The admin endpoint that moves a manual clock (DONDOC_CLOCK=manual): demos and
end-to-end tests drive deadlines through it. Admin role only; with the system clock it
answers 409 and moves nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field

from dondoc_contracts import Role
from dondoc_platform.auth import Principal
from dondoc_platform.clock import VN_TZ, Clock, ManualClock
from dondoc_platform.errors import DomainError
from dondoc_platform.http import require_roles


class ClockState(BaseModel):
    now: AwareDatetime = Field(description="The service's current time (Asia/Ho_Chi_Minh)")
    manual: bool = Field(description="True when DONDOC_CLOCK=manual")


class MoveClock(BaseModel):
    to: AwareDatetime | None = Field(None, description="Set the clock to this moment")
    advance_seconds: int | None = Field(None, ge=0, le=20 * 366 * 86400,
                                        description="Or move it forward by this many seconds")


def clock_router(clock: Clock, authenticated: Callable[..., Principal]) -> APIRouter:
    router = APIRouter(prefix="/admin/clock", tags=["admin"])
    admin = require_roles(authenticated, Role.ADMIN)

    def state() -> ClockState:
        return ClockState(now=clock.now().astimezone(VN_TZ), manual=isinstance(clock, ManualClock))

    @router.get("", response_model=ClockState, summary="The service's clock")
    def read_clock(principal: Principal = admin) -> ClockState:
        return state()

    @router.post("", response_model=ClockState, summary="Move the manual clock forward",
                 responses={409: {"description": "not a manual clock, or a move backwards"}})
    def move_clock(body: MoveClock, principal: Principal = admin) -> ClockState:
        if not isinstance(clock, ManualClock):
            raise DomainError("clock_not_manual", "Đồng hồ của dịch vụ không ở chế độ thủ công",
                              "The service does not run a manual clock (DONDOC_CLOCK=manual)",
                              status=409)
        if (body.to is None) == (body.advance_seconds is None):
            raise DomainError("invalid_input", "Cần đúng một trong hai: to hoặc advance_seconds",
                              "Give exactly one of: to, advance_seconds", field="to")
        target = body.to if body.to is not None else None
        try:
            if target is not None:
                clock.set(target)
            else:
                clock.advance(timedelta(seconds=body.advance_seconds or 0))
        except (ValueError, OverflowError) as e:
            raise DomainError("clock_backwards", "Đồng hồ không lùi lại được",
                              f"The clock does not go backwards: {e}", field="to",
                              status=409) from e
        return state()

    return router


__all__ = ["ClockState", "MoveClock", "clock_router"]
