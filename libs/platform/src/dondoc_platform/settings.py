"""Settings from the environment (pydantic-settings); read when a service is bootstrapped,
never at import time. Every variable a service reads is a field here or in a subclass, so
`docs/OPERATIONS.md` and the deployment manifests can be checked against this code."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Default HTTP port of each service when several run on one machine.
DEFAULT_PORTS: dict[str, int] = {
    "directives": 8101,
    "tasks": 8102,
    "reports": 8103,
    "notifications": 8104,
    "analytics": 8105,
}


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DONDOC_KAFKA_", extra="ignore")

    bootstrap: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers, comma separated")
    client_id: str = Field("dondoc", description="client id prefix seen in the broker's logs")
    request_timeout_ms: int = Field(30_000, ge=1000, description="Kafka client request timeout")


class AuthSettings(BaseSettings):
    """Bearer JWTs (OIDC-compatible). Production gives the issuer's keys (JWKS URL or file);
    local development signs with a key of the local stack (`dondoc dev token`)."""

    model_config = SettingsConfigDict(env_prefix="DONDOC_AUTH_", extra="ignore")

    issuer: str = Field("https://dondoc.local/dev", description="expected `iss` claim")
    audience: str = Field("dondoc", description="expected `aud` claim")
    jwks_url: str | None = Field(None, description="the issuer's JWKS endpoint (production)")
    jwks_file: str | None = Field(None, description="a JWKS document on disk (keys rotate by kid)")
    jwks_cache_seconds: float = Field(300, gt=0, le=86_400, description=(
        "how long the issuer's key set (JWKS URL) is kept: a key it withdraws stops verifying "
        "after this; a new kid is fetched at once (at most every 2 s)"))
    leeway_seconds: int = Field(30, ge=0, le=300, description="clock skew tolerated on exp/nbf")
    algorithms: tuple[str, ...] = Field(("RS256", "ES256", "EdDSA"), description="accepted signature algorithms (JSON list)")


class ServiceSettings(BaseSettings):
    """What every dondoc service reads. Subclasses set `service` and add their own fields."""

    model_config = SettingsConfigDict(env_prefix="DONDOC_", extra="ignore")

    service: ClassVar[str] = "service"

    store_url: str = Field("", description="the service's own store: postgresql://… or sqlite:///…")
    data_dir: str = Field(".dondoc/data", description="where embedded SQLite stores live by default")
    role: Literal["api", "worker", "all"] = Field("all", description="api, worker, or both in one process")
    http_host: str = Field("127.0.0.1", description="address the HTTP API binds")
    http_port: int = Field(0, ge=0, le=65535, description="HTTP port (0: the service's default)")
    public_base_url: str = Field("http://127.0.0.1:8100", description="base URL of links in messages")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(False, description="JSON log lines (production)")
    relay_batch_size: int = Field(1000, ge=1, le=10_000, description="events the outbox relay publishes per batch")
    log_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="directives, tasks, reports: how often a worker's outbox "
        "relay and read models look at the event log unwoken; on PostgreSQL every commit of any "
        "process wakes them at once (LISTEN/NOTIFY), so this is only the fallback (SQLite: "
        "0.05 s and 0.2 s)")
    consumer_max_records: int = Field(500, ge=1, le=10_000, description="records a consumer takes per poll")
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="the event loop `dondoc serve` runs the service on: uvloop (libuv; "
        "less CPU per wake and per socket operation) or the standard library's (where uvloop "
        "is not installed, e.g. Windows, it is used anyway)")
    clock: Literal["system", "manual"] = Field(
        "system", description="'manual' lets tests and demos move time through the admin API")
    manual_clock_start: AwareDatetime | None = Field(
        None, description="where a manual clock starts (ISO 8601 with offset); default: now")

    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir}/{self.service}.sqlite"

    def resolved_http_port(self) -> int:
        return self.http_port or DEFAULT_PORTS.get(self.service, 8100)
