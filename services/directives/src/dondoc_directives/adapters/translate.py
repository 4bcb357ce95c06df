"""Private domain events of the directives service → public contract events."""

from __future__ import annotations

from typing import Any

from dondoc_contracts import (
    Actor,
    ContractEvent,
    DirectiveAmended,
    DirectiveIssued,
    DirectiveRevoked,
    UnitChanged,
    UnitRegistered,
)
from dondoc_contracts.values import Decision, DirectiveItem
from dondoc_directives.domain.directives import Directive
from dondoc_directives.domain.units import Unit
from dondoc_platform.clock import VN_TZ


def _common(event: Any) -> dict[str, Any]:
    return {"occurred_at": event.at.astimezone(VN_TZ), "actor": Actor.model_validate(event.actor)}


def translate(event: Any) -> ContractEvent | None:
    if isinstance(event, Unit.Registered):
        return UnitRegistered(
            **_common(event), unit_id=event.unit_id, code=event.code, name=event.name,
            review_group=event.review_group, parent_unit_id=event.parent_unit_id,
            emails=tuple(event.emails), leadership_emails=tuple(event.leadership_emails),
            webhook_url=event.webhook_url)
    if isinstance(event, Unit.Changed):
        return UnitChanged(
            **_common(event), unit_id=event.unit_id, code=event.code, name=event.name,
            previous_name=event.previous_name, review_group=event.review_group,
            parent_unit_id=event.parent_unit_id, emails=tuple(event.emails),
            leadership_emails=tuple(event.leadership_emails), webhook_url=event.webhook_url,
            active=event.active)
    if isinstance(event, Directive.Issued):
        return DirectiveIssued(
            **_common(event), directive_id=str(event.originator_id), number=event.number,
            kind=event.kind, issuing_body=event.issuing_body, issued_on=event.issued_on,
            summary=event.summary, signer=event.signer, secrecy=event.secrecy,
            urgency=event.urgency, review_group=event.review_group,
            items=tuple(DirectiveItem.model_validate(i) for i in event.items))
    if isinstance(event, Directive.Amended):
        return DirectiveAmended(
            **_common(event), directive_id=str(event.originator_id), number=event.number,
            summary=event.summary,
            items_added=tuple(DirectiveItem.model_validate(i) for i in event.items_added),
            items_changed=tuple(DirectiveItem.model_validate(i) for i in event.items_changed),
            items_removed=tuple(event.items_removed), reason=event.reason,
            decision=Decision.model_validate(event.decision) if event.decision else None)
    if isinstance(event, Directive.Revoked):
        return DirectiveRevoked(
            **_common(event), directive_id=str(event.originator_id), number=event.number,
            reason=event.reason, decision=Decision.model_validate(event.decision))
    return None
