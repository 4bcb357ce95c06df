"""Settings from the environment (pydantic-settings); read when a service is bootstrapped."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DONDOC_KAFKA_", extra="ignore")

    bootstrap: str = Field("127.0.0.1:19092", description="Kafka bootstrap servers, comma separated")
    client_id: str = Field("dondoc", description="client id prefix seen in the broker's logs")
    request_timeout_ms: int = Field(30_000, ge=1000)
