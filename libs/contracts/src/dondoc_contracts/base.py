"""The base of every public event: business time, actor, and how it is named on the wire."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


def nfc(value: str) -> str:
    """Vietnamese text arrives in NFC and NFD: every string on the wire is NFC. (ASCII text
    is NFC already: the check is cheaper than the normalisation's own.)"""
    return value if value.isascii() else unicodedata.normalize("NFC", value)


Text = Annotated[str, AfterValidator(nfc)]
ShortText = Annotated[str, AfterValidator(nfc), Field(min_length=1, max_length=500)]
LongText = Annotated[str, AfterValidator(nfc), Field(max_length=20_000)]
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:/\-]+$")]


class Role(StrEnum):
    OFFICE = "office"
    UNIT = "unit"
    REVIEWER = "reviewer"
    LEADER = "leader"
    AUDITOR = "auditor"
    ADMIN = "admin"
    SYSTEM = "system"


class Actor(BaseModel):
    """Who did it: a person acting in a role (for a unit or review group), or the system."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: Identifier
    role: Role
    name: Text | None = None
    unit_id: Identifier | None = None
    review_group: Text | None = None


SYSTEM_ACTOR = Actor(id="system", role=Role.SYSTEM, name="dondoc")


class ContractEvent(BaseModel):
    """A public event. Subclasses set the class variables that name it on the wire.

    Contract rules: a field is never removed or retyped within a version; new fields are
    optional; consumers ignore fields they do not know (extra="ignore").
    """

    model_config = ConfigDict(frozen=True, extra="ignore", use_enum_values=False)

    event_type: ClassVar[str]
    version: ClassVar[int] = 1
    service: ClassVar[str]
    ce_type: ClassVar[str]
    subject_field: ClassVar[str]
    description: ClassVar[str] = ""

    occurred_at: AwareDatetime = Field(
        description="Business time of what happened (Asia/Ho_Chi_Minh offset on the wire)."
    )
    actor: Actor

    @property
    def subject(self) -> str:
        return str(getattr(self, self.subject_field))

    @classmethod
    def example(cls) -> ContractEvent:  # pragma: no cover - each event defines its own
        raise NotImplementedError(cls.__name__)

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=False).encode("utf-8")

    @classmethod
    def key(cls) -> tuple[str, int]:
        return (cls.event_type, cls.version)


__all__ = [
    "Actor", "ContractEvent", "Identifier", "LongText", "Role", "SYSTEM_ACTOR", "ShortText",
    "Text", "date", "datetime", "nfc",
]
