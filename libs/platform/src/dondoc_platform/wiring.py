"""What every service's bootstrap wires the same way: its clock, its topics, its HTTP app
with authentication, idempotency and the admin clock, its outbox relay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import Field

from dondoc_platform.auth import TokenVerifier
from dondoc_platform.clock import Clock
from dondoc_platform.http import IdempotencyMiddleware, authenticator, create_app
from dondoc_platform.longpoll import Changes
from dondoc_platform.settings import AuthSettings, ServiceSettings
from dondoc_platform.timecontrol import clock_from_settings, clock_router


class EventServiceSettings(ServiceSettings):
    """A service that publishes events: where its topics are and how they are made."""

    topic_prefix: str = Field("", description="prefix of every topic name (tests, side-by-side runs)")
    topic_partitions: int = Field(6, ge=1, le=256, description="partitions of its events topic")


def clock_for(settings: ServiceSettings, clock: Clock | None = None) -> Clock:
    """The given clock, else the one the settings ask for (dondoc_platform.timecontrol)."""
    return clock if clock is not None else clock_from_settings(settings)


def prefixed(prefix: str, topic: str) -> str:
    """Tests and side-by-side deployments run on their own topics: `<prefix><topic>`."""
    return f"{prefix}{topic}"


def http_app(*, service: str, title: str, description: str, engine: sa.Engine, clock: Clock,
             auth: AuthSettings | None, verifier: TokenVerifier | None,
             routers: Sequence[Any], ready_checks: Sequence[Any] = (),
             changes: Changes | None = None) -> tuple[FastAPI, Any]:
    """The service's FastAPI app and its `authenticated` dependency; `routers` is called with
    that dependency and returns the service's routers."""
    verifier = verifier or TokenVerifier(auth or AuthSettings())
    authenticated = authenticator(verifier)
    api = create_app(service=service, title=title, description=description,
                     ready_checks=ready_checks, changes=changes)
    for make in routers:
        for router in make(authenticated):
            api.include_router(router)
    api.include_router(clock_router(clock, authenticated))
    api.add_middleware(IdempotencyMiddleware, engine=engine)
    return api, authenticated


__all__ = ["EventServiceSettings", "clock_for", "http_app", "prefixed"]
