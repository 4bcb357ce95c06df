"""The directives service's application: the unit directory and the directives.

Every rule a command can break is checked before anything is recorded; a broken rule is a
`DomainError` naming the field and the reason in Vietnamese and English.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from dondoc_contracts import Actor
from dondoc_contracts.values import DeadlineKind, Decision, DirectiveItem
from dondoc_directives.application.commands import (
    AmendDirective,
    ChangeUnit,
    IssueDirective,
    ItemInput,
    RegisterUnit,
    RevokeDirective,
)
from dondoc_directives.domain.claims import Claim, claim_id
from dondoc_directives.domain.directives import Directive
from dondoc_directives.domain.units import Unit, unit_aggregate_id
from dondoc_platform.application import ServiceApplication
from dondoc_platform.calendar import local_day
from dondoc_platform.errors import DomainError, conflict, lead_also_cooperating, not_found
from dondoc_platform.eventstore import load_many
from dondoc_platform.http import check_version
from dondoc_platform.names import canonical_review_group, clean, name_key

_NUMBER_SPACES = re.compile(r"\s+")
_NUMBER_DASHES = re.compile(r"[\u2010-\u2015\u2212]")


NUMBER_CLAIM = "directive-number"


def _number_claim_id(command: IssueDirective) -> UUID:
    """The id of the claim `_new_directive` makes for the command's number."""
    return Claim.create_id(NUMBER_CLAIM, number_key(clean(command.number), command.issued_on))


def number_key(number: str, issued_on: date) -> str:
    """Directive numbers restart every year: '125-TB/TU' of 2018 and of 2019 differ."""
    compact = _NUMBER_SPACES.sub("", _NUMBER_DASHES.sub("-", clean(number))).upper()
    return f"{issued_on.year}:{compact}"


def _review_group(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    canonical = canonical_review_group(value)
    if canonical is None:
        raise DomainError(
            "unknown_review_group",
            f"Nhóm rà soát '{value}' không có; chọn: Kinh tế - xã hội; Xây dựng Đảng, hệ thống "
            "chính trị, nội chính; Mặt trận, đoàn thể",
            f"Unknown review group '{value}'; use one of: Kinh tế - xã hội; Xây dựng Đảng, hệ "
            "thống chính trị, nội chính; Mặt trận, đoàn thể", field=field)
    return canonical


class DirectivesApp(ServiceApplication):
    name = "Directives"

    # ------------------------------------------------------------------ units

    def unit(self, unit_id: str) -> Unit | None:
        try:
            return self.repository.get(unit_aggregate_id(unit_id))
        except AggregateNotFoundError:
            return None

    def _claim(self, kind: str, key: str, owner: str) -> Claim | None:
        """A claim to save with the command, or None if `owner` holds it already."""
        try:
            claim: Claim = self.repository.get(claim_id(kind, key))
        except AggregateNotFoundError:
            return Claim(kind=kind, key=key, owner=owner)
        if claim.owner == owner:
            return None
        if claim.owner is None:
            claim.reclaim(owner)
            return claim
        raise _taken(kind, claim.owner)

    def _release(self, kind: str, key: str, owner: str) -> Claim | None:
        try:
            claim: Claim = self.repository.get(claim_id(kind, key))
        except AggregateNotFoundError:
            return None
        if claim.owner != owner:
            return None
        claim.release()
        return claim

    def register_unit(self, command: RegisterUnit, actor: Actor) -> Unit:
        unit_id = command.unit_id or command.code
        if self.unit(unit_id) is not None:
            raise conflict("duplicate_unit", f"Đơn vị {unit_id} đã có trong danh mục",
                           f"Unit {unit_id} is already in the directory", field="unit_id")
        name = clean(command.name)
        review_group = _review_group(command.review_group, "review_group")
        self._require_parent(command.parent_unit_id, unit_id)
        claims = [self._claim("unit-name", name_key(name), unit_id),
                  self._claim("unit-code", command.code.upper(), unit_id)]
        unit = Unit(unit_id=unit_id, code=command.code, name=name, review_group=review_group,
                    parent_unit_id=command.parent_unit_id, emails=list(command.emails),
                    leadership_emails=list(command.leadership_emails),
                    webhook_url=command.webhook_url, actor=_actor(actor), at=self.clock.now())
        self.save_command(unit, *claims)
        return unit

    def change_unit(self, unit_id: str, command: ChangeUnit, actor: Actor,
                    expected: int | None = None) -> Unit:
        unit = self.unit(unit_id)
        if unit is None:
            raise not_found("đơn vị", "unit", unit_id, field="unit_id")
        check_version(unit.version, expected, "Đơn vị", "The unit")
        given = command.model_fields_set
        name = clean(command.name) if command.name is not None else unit.name
        code = command.code if command.code is not None else unit.code
        review_group = (_review_group(command.review_group, "review_group")
                        if "review_group" in given else unit.review_group)
        parent = command.parent_unit_id if "parent_unit_id" in given else unit.parent_unit_id
        if "parent_unit_id" in given:
            self._require_parent(parent, unit_id)
        claims: list[Claim | None] = []
        if name_key(name) != name_key(unit.name):
            claims += [self._claim("unit-name", name_key(name), unit_id),
                       self._release("unit-name", name_key(unit.name), unit_id)]
        if code.upper() != unit.code.upper():
            claims += [self._claim("unit-code", code.upper(), unit_id),
                       self._release("unit-code", unit.code.upper(), unit_id)]
        unit.change(
            unit_id=unit.unit_id, code=code, name=name, previous_name=unit.name if name != unit.name else None,
            review_group=review_group, parent_unit_id=parent,
            emails=list(command.emails) if command.emails is not None else unit.emails,
            leadership_emails=(list(command.leadership_emails)
                               if command.leadership_emails is not None else unit.leadership_emails),
            webhook_url=command.webhook_url if "webhook_url" in given else unit.webhook_url,
            active=command.active if command.active is not None else unit.active,
            actor=_actor(actor), at=self.clock.now())
        self.save_command(unit, *claims)
        return unit

    def _require_parent(self, parent_unit_id: str | None, unit_id: str) -> None:
        if parent_unit_id is None:
            return
        if parent_unit_id == unit_id:
            raise DomainError("invalid_parent", "Đơn vị không thể là cấp trên của chính nó",
                              "A unit cannot be its own parent", field="parent_unit_id")
        seen, current = {unit_id}, parent_unit_id
        while current is not None:
            parent = self.unit(current)
            if parent is None:
                raise _unknown_unit(current, "parent_unit_id")
            if parent.unit_id in seen:
                raise DomainError("invalid_parent", "Quan hệ cấp trên tạo thành vòng lặp",
                                  "The parent relation would form a cycle", field="parent_unit_id")
            seen.add(parent.unit_id)
            current = parent.parent_unit_id

    def find_unit_id_by_name(self, name: str) -> str | None:
        try:
            claim: Claim = self.repository.get(claim_id("unit-name", name_key(name)))
        except AggregateNotFoundError:
            return None
        return claim.owner

    # ------------------------------------------------------------------ directives

    def directive(self, directive_id: str | UUID) -> Directive:
        try:
            return self.repository.get(UUID(str(directive_id)))
        except (AggregateNotFoundError, ValueError):
            raise not_found("văn bản chỉ đạo", "directive", str(directive_id),
                            field="directive_id") from None

    def issue_directive(self, command: IssueDirective, actor: Actor) -> Directive:
        units, taken = self._units_and_claims([command])
        directive, claim = self._new_directive(command, actor, units)
        if claim.id in taken:
            raise _duplicate_number(directive.number, command.issued_on)
        try:
            self.save(directive, claim)
        except IntegrityError:
            raise _duplicate_number(directive.number, command.issued_on) from None
        return directive

    def issue_directives(self, commands: Sequence[IssueDirective], actor: Actor) -> list[Directive]:
        """Register many directives at once, all or nothing: every entry is checked as the
        single command checks it (and against the others: a number twice in the batch) before
        anything is recorded, then all are saved in one transaction. A refusal names the
        entry (`directives[i].<field>`)."""
        units, taken = self._units_and_claims(commands)
        made: list[tuple[Directive, Claim]] = []
        first_of: dict[UUID, int] = {}
        for i, command in enumerate(commands):
            try:
                directive, claim = self._new_directive(command, actor, units)
                if claim.id in first_of:
                    raise _duplicate_number(directive.number, command.issued_on, within=first_of[claim.id])
            except DomainError as e:
                raise _in_entry(e, i, command.number) from None
            first_of[claim.id] = i
            made.append((directive, claim))
        for i, (directive, claim) in enumerate(made):
            if claim.id in taken:
                raise _in_entry(_duplicate_number(directive.number, directive.issued_on), i,
                                directive.number)
        try:
            self.save(*[o for pair in made for o in pair])
        except IntegrityError:  # a number registered meanwhile by another request
            raise conflict("duplicate_number",
                           "Một số văn bản trong lô vừa được đăng ký bởi yêu cầu khác; không "
                           "văn bản nào được ghi",
                           "A number of the batch was registered meanwhile by another request; "
                           "nothing was recorded", field="directives") from None
        return [directive for directive, _ in made]

    def _units_and_claims(self, commands: Sequence[IssueDirective]) -> tuple[dict[UUID, Unit], set[UUID]]:
        """Every unit the commands' items name, and which of their numbers' claims are taken
        already (a directive number is never released): one query for both."""
        named = {u for command in commands for item in command.items
                 for u in (item.lead_unit_id, *item.cooperating_unit_ids) if u}
        claim_ids = {_number_claim_id(command) for command in commands}
        found = load_many(self, [*(unit_aggregate_id(u) for u in sorted(named)), *claim_ids])
        return ({key: unit for key, unit in found.items() if key not in claim_ids},
                claim_ids & set(found))

    def _new_directive(self, command: IssueDirective, actor: Actor,
                       units: dict[UUID, Unit]) -> tuple[Directive, Claim]:
        """The directive and its number's claim, every rule checked; nothing saved."""
        today = local_day(self.clock.now())
        if command.issued_on > today:
            raise DomainError("issued_in_future",
                              f"Ngày ban hành {command.issued_on:%d/%m/%Y} ở tương lai",
                              f"The issue date {command.issued_on} is in the future",
                              field="issued_on")
        review_group = _review_group(command.review_group, "review_group")
        items = self._items(command.items, "items", command.issued_on, review_group,
                            start=1, existing=set(), units=units)
        number = clean(command.number)
        directive = Directive(
            number=number, kind=command.kind.value, issuing_body=clean(command.issuing_body),
            issued_on=command.issued_on, summary=command.summary,
            signer=clean(command.signer) if command.signer else None,
            secrecy=command.secrecy.value, urgency=command.urgency.value,
            review_group=review_group, items=items, actor=_actor(actor), at=self.clock.now())
        claim = Claim(kind=NUMBER_CLAIM, key=number_key(number, command.issued_on),
                      owner=str(directive.id))
        return directive, claim

    def amend_directive(self, directive_id: str, command: AmendDirective, actor: Actor,
                        expected: int | None = None) -> Directive:
        directive = self.directive(directive_id)
        check_version(directive.version, expected, "Văn bản", "The directive")
        if directive.revoked:
            raise conflict("directive_revoked", "Văn bản đã bị thu hồi, không sửa được",
                           "The directive was revoked and cannot be amended")
        if not (command.items_added or command.items_changed or command.items_removed
                or command.summary is not None):
            raise DomainError("empty_amendment", "Bản sửa đổi không có nội dung",
                              "The amendment changes nothing", field="items_added")
        for i, item_id in enumerate(command.items_removed):
            if item_id not in directive.items:
                raise DomainError("unknown_item", f"Không có mục {item_id} trong văn bản",
                                  f"The directive has no item {item_id}",
                                  field=f"items_removed[{i}]")
        if not command.items_added and set(directive.items) <= set(command.items_removed):
            raise DomainError("no_items_left",
                              "Văn bản phải còn ít nhất một mục; muốn bỏ cả văn bản thì thu hồi",
                              "A directive keeps at least one item; revoke it to withdraw them all",
                              field="items_removed")
        for i, item in enumerate(command.items_changed):
            if item.item_id is None:
                raise DomainError("invalid_input", "Cần item_id của mục được sửa",
                                  "A changed item needs its item_id",
                                  field=f"items_changed[{i}].item_id")
            if item.item_id not in directive.items or item.item_id in command.items_removed:
                raise DomainError("unknown_item", f"Không có mục {item.item_id} trong văn bản",
                                  f"The directive has no item {item.item_id}",
                                  field=f"items_changed[{i}].item_id")
        taken = set(directive.items) | set(directive.removed_items)
        changed = self._items(command.items_changed, "items_changed", directive.issued_on,
                              directive.review_group, start=1, existing=set())
        added = self._items(command.items_added, "items_added", directive.issued_on,
                            directive.review_group, start=len(taken) + 1, existing=taken)
        if command.decision is not None:
            self._decided_by_now(command.decision)
        for i, item in enumerate(changed):
            before = directive.items[item["item_id"]]
            if before.get("deadline") != item.get("deadline") and command.decision is None:
                raise DomainError(
                    "decision_required",
                    "Thay đổi thời hạn cần quyết định (số, ngày, người quyết định)",
                    "A deadline changes only through a recorded decision (number, date, decider)",
                    field="decision", details=[{"field": f"items_changed[{i}].deadline"}])
        directive.amend(
            number=directive.number, summary=command.summary, items_added=added,
            items_changed=changed, items_removed=list(command.items_removed),
            reason=command.reason,
            decision=command.decision.model_dump(mode="json") if command.decision else None,
            actor=_actor(actor), at=self.clock.now())
        self.save(directive)
        return directive

    def revoke_directive(self, directive_id: str, command: RevokeDirective, actor: Actor,
                         expected: int | None = None) -> Directive:
        directive = self.directive(directive_id)
        check_version(directive.version, expected, "Văn bản", "The directive")
        if directive.revoked:
            raise conflict("directive_revoked", "Văn bản đã bị thu hồi trước đó",
                           "The directive was revoked already")
        self._decided_by_now(command.decision)
        if command.decision.decided_on < directive.issued_on:
            raise DomainError("decision_before_issue",
                              "Ngày quyết định thu hồi trước ngày ban hành",
                              "The revocation is dated before the directive was issued",
                              field="decision.decided_on")
        directive.revoke(number=directive.number, reason=command.reason,
                         decision=command.decision.model_dump(mode="json"),
                         actor=_actor(actor), at=self.clock.now())
        self.save(directive)
        return directive

    def _decided_by_now(self, decision: Decision) -> None:
        """A decision is recorded once it is taken: one dated in the future is a typing slip."""
        if decision.decided_on > local_day(self.clock.now()):
            raise DomainError("decision_in_future",
                              f"Ngày quyết định {decision.decided_on:%d/%m/%Y} ở tương lai",
                              f"The decision day {decision.decided_on} is in the future",
                              field="decision.decided_on")

    def _items(self, items: Sequence[ItemInput], field: str, issued_on: date,
               review_group: str | None, *, start: int, existing: set[str],
               units: dict[UUID, Unit] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen = set(existing)
        next_id = start
        if units is None:  # every unit the items name, read at once (a notice names several)
            named = [u for item in items for u in (item.lead_unit_id, *item.cooperating_unit_ids) if u]
            units = load_many(self, [unit_aggregate_id(u) for u in named])
        for i, item in enumerate(items):
            where = f"{field}[{i}]"
            item_id = item.item_id
            if item_id is None:
                while str(next_id) in seen:
                    next_id += 1
                item_id = str(next_id)
            if item_id in seen:
                raise DomainError("duplicate_item", f"Mã mục {item_id} bị trùng",
                                  f"Item id {item_id} is used twice", field=f"{where}.item_id")
            seen.add(item_id)
            lead = self._active_unit(item.lead_unit_id, f"{where}.lead_unit_id", units)
            cooperating: list[str] = []
            for j, unit_id in enumerate(item.cooperating_unit_ids):
                self._active_unit(unit_id, f"{where}.cooperating_unit_ids[{j}]", units)
                if unit_id == item.lead_unit_id:
                    raise lead_also_cooperating(unit_id, f"{where}.cooperating_unit_ids[{j}]")
                if unit_id not in cooperating:
                    cooperating.append(unit_id)
            rule = item.deadline
            if rule.kind is DeadlineKind.DATE and rule.due_on is not None and rule.due_on < issued_on:
                raise DomainError(
                    "deadline_before_issue",
                    f"Thời hạn {rule.due_on:%d/%m/%Y} trước ngày ban hành {issued_on:%d/%m/%Y}",
                    f"The deadline {rule.due_on} is before the issue date {issued_on}",
                    field=f"{where}.deadline.due_on")
            group = (_review_group(item.review_group, f"{where}.review_group")
                     or review_group or (lead.review_group if lead else None))
            contract = DirectiveItem(
                item_id=item_id, paragraph=clean(item.paragraph), text=item.text,
                lead_unit_id=item.lead_unit_id, cooperating_unit_ids=tuple(cooperating),
                deadline=rule, domain=clean(item.domain) if item.domain else None,
                review_group=group, key_task=item.key_task, product=item.product)
            out.append(contract.model_dump(mode="json"))
        return out

    def _active_unit(self, unit_id: str | None, field: str,
                     units: dict[UUID, Unit]) -> Unit | None:
        if unit_id is None:
            return None
        unit = units.get(unit_aggregate_id(unit_id))
        if unit is None:
            raise _unknown_unit(unit_id, field)
        if not unit.active:
            raise DomainError("inactive_unit", f"Đơn vị {unit_id} đã ngừng hoạt động",
                              f"Unit {unit_id} is no longer active", field=field)
        return unit


def _actor(actor: Actor) -> dict[str, Any]:
    return actor.model_dump(mode="json")


def _unknown_unit(unit_id: str, field: str) -> DomainError:
    return DomainError("unknown_unit", f"Không có đơn vị {unit_id} trong danh mục",
                       f"Unknown unit {unit_id}", field=field)


def _taken(kind: str, owner: str) -> DomainError:
    if kind == "unit-name":
        return conflict("duplicate_unit_name", f"Tên đơn vị đã được dùng cho đơn vị {owner}",
                        f"The name is already used by unit {owner}", field="name")
    return conflict("duplicate_unit_code", f"Mã đơn vị đã được dùng cho đơn vị {owner}",
                    f"The code is already used by unit {owner}", field="code")


def _duplicate_number(number: str, issued_on: date, within: int | None = None) -> DomainError:
    if within is not None:
        return conflict("duplicate_number",
                        f"Số văn bản {number} năm {issued_on.year} trùng với văn bản "
                        f"directives[{within}] trong cùng lô",
                        f"Directive number {number} of {issued_on.year} is also entry "
                        f"directives[{within}] of the batch", field="number")
    return conflict("duplicate_number",
                    f"Số văn bản {number} năm {issued_on.year} đã được đăng ký",
                    f"Directive number {number} of {issued_on.year} is already registered",
                    field="number")


def _in_entry(error: DomainError, index: int, number: str) -> DomainError:
    """A refusal of one entry of a batch, named by its index: `directives[i].<field>`."""
    where = f"directives[{index}]"
    label = f"{where} ({clean(number)})"
    return replace(
        error, field=f"{where}.{error.field}" if error.field else where,
        message_vi=f"Văn bản {label}: {error.message_vi}",
        message_en=f"Entry {label}: {error.message_en}",
        details=[{**d, "field": f"{where}.{d['field']}"} if d.get("field") else d
                 for d in error.details] + [{"index": index}])
