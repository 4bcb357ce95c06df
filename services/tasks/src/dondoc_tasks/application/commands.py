"""What the office, units, reviewers and administrators ask of the tasks service."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from dondoc_contracts.base import Identifier, LongText, ShortText
from dondoc_contracts.values import AdjustmentKind, ClaimedStatus
from dondoc_platform.calendar import DayKind
from dondoc_platform.names import DecisionInput as Decision
from dondoc_platform.names import Filled

Note = Annotated[LongText, Field(max_length=5000), Filled]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordProgress(Strict):
    """The lead unit's account of its work: a claim, never a completion."""

    status_claimed: ClaimedStatus
    progress: Annotated[LongText, Field(min_length=1), Filled]
    evidence: Note | None = None
    delay_reason: Note | None = None
    recorded_on: date | None = Field(None, description="Defaults to today")


class ConfirmCompletion(Strict):
    """The office or the review team confirms the task done."""

    completed_on: date = Field(description="The day the work was done")
    result: Note | None = None
    evidence: Note | None = None


class AdjustDeadline(Strict):
    """Extend (lùi), stretch (giãn) or withdraw (rút), by a recorded decision only."""

    kind: AdjustmentKind
    due_on: date | None = Field(None, description="The new deadline day (extend: required; "
                                                  "stretch: none makes it a standing task)")
    decision: Decision
    reason: Note | None = None
    request_id: Identifier | None = None


class Reassign(Strict):
    lead_unit_id: Identifier
    cooperating_unit_ids: list[Identifier] = Field(default_factory=list, max_length=100)
    decision: Decision | None = None
    reason: Note | None = None


class CorrectDay(Strict):
    kind: DayKind = Field(description="day_off or working_day")
    name: Annotated[ShortText, Field(max_length=200), Filled] = Field(
        description="Why, e.g. 'Nghỉ bù Quốc khánh' or 'Làm bù cho ngày 31/12'")
