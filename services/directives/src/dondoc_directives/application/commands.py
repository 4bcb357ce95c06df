"""What the office asks the directives service to do (also the HTTP request bodies)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from dondoc_contracts.base import Identifier, LongText, ShortText
from dondoc_contracts.values import DeadlineRule, DirectiveKind, Secrecy, Urgency
from dondoc_platform.names import DecisionInput as Decision
from dondoc_platform.names import Filled

Email = Annotated[str, Field(min_length=3, max_length=254,
                             pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
WebhookUrl = Annotated[str, Field(min_length=8, max_length=2000, pattern=r"^https?://\S+$")]
UnitName = Annotated[ShortText, Field(max_length=300), Filled]
Code = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._\-]+$")]
NonEmptyText = Annotated[LongText, Field(min_length=1), Filled]
FilledShort = Annotated[ShortText, Filled]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterUnit(Strict):
    code: Code = Field(description="Short code, e.g. 'BTG'; the unit's id unless unit_id is given")
    unit_id: Identifier | None = Field(None, description="Stable id (defaults to the code)")
    name: UnitName = Field(description="Full name, e.g. 'Ban Tuyên giáo Tỉnh ủy'")
    review_group: ShortText | None = Field(
        None, description="One of the three review groups (capitals, dashes and spaces ignored)")
    parent_unit_id: Identifier | None = None
    emails: list[Email] = Field(default_factory=list, max_length=20)
    leadership_emails: list[Email] = Field(default_factory=list, max_length=20)
    webhook_url: WebhookUrl | None = None


class ChangeUnit(Strict):
    """Only the fields given change; a rename keeps the unit's identity."""

    code: Code | None = None
    name: UnitName | None = None
    review_group: ShortText | None = None
    parent_unit_id: Identifier | None = None
    emails: list[Email] | None = Field(None, max_length=20)
    leadership_emails: list[Email] | None = Field(None, max_length=20)
    webhook_url: WebhookUrl | None = None
    active: bool | None = None


class ItemInput(Strict):
    item_id: Identifier | None = Field(None, description="Stable id within the directive "
                                                         "(defaults to its position, 1, 2, …)")
    paragraph: FilledShort = Field(description="Paragraph reference, e.g. '2.a'")
    text: NonEmptyText
    lead_unit_id: Identifier | None = Field(None, description="The one lead unit (chủ trì)")
    cooperating_unit_ids: list[Identifier] = Field(default_factory=list, max_length=100)
    deadline: DeadlineRule = DeadlineRule(kind="none")
    domain: ShortText | None = None
    review_group: ShortText | None = None
    key_task: bool = False
    product: Annotated[LongText, Field(max_length=2000), Filled] | None = None


class IssueDirective(Strict):
    number: Annotated[FilledShort, Field(max_length=100)] = Field(description="e.g. '125-TB/TU'")
    kind: DirectiveKind
    issuing_body: Annotated[FilledShort, Field(max_length=200)] = Field(description="BTV, TT …")
    issued_on: date
    summary: NonEmptyText = Field(description="Trích yếu")
    signer: Annotated[FilledShort, Field(max_length=200)] | None = None
    secrecy: Secrecy = Secrecy.THUONG
    urgency: Urgency = Urgency.THUONG
    review_group: ShortText | None = None
    items: list[ItemInput] = Field(min_length=1, max_length=500)


MAX_BATCH = 200
MAX_BATCH_BYTES = 8 * 1024 * 1024


class IssueDirectives(Strict):
    """Many directives registered at once (an import, a conference's notices): all or none."""

    directives: list[IssueDirective] = Field(
        min_length=1, max_length=MAX_BATCH,
        description=f"Each as the single command takes it; at most {MAX_BATCH} a request "
                    f"(and {MAX_BATCH_BYTES // (1024 * 1024)} MiB)")


class AmendDirective(Strict):
    summary: NonEmptyText | None = None
    items_added: list[ItemInput] = Field(default_factory=list, max_length=500)
    items_changed: list[ItemInput] = Field(default_factory=list, max_length=500)
    items_removed: list[Identifier] = Field(default_factory=list, max_length=500)
    reason: Annotated[LongText, Field(max_length=5000), Filled] | None = None
    decision: Decision | None = Field(
        None, description="Required when a deadline changes: the recorded decision")


class RevokeDirective(Strict):
    reason: Annotated[NonEmptyText, Field(max_length=5000)]
    decision: Decision
