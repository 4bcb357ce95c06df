"""HTTP API of the directives service: translates requests into use-case calls."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Header, Path, Query, Response
from pydantic import BaseModel, Field

from dondoc_contracts import Role
from dondoc_contracts.values import DirectiveItem, DirectiveKind, Secrecy, Urgency
from dondoc_directives.application.commands import (
    AmendDirective,
    ChangeUnit,
    MAX_BATCH,
    MAX_BATCH_BYTES,
    IssueDirective,
    IssueDirectives,
    RegisterUnit,
    RevokeDirective,
)
from dondoc_directives.application.directory import DirectivesApp
from dondoc_directives.projections import views
from dondoc_platform.auth import SECRECY_ORDER, Principal
from dondoc_platform.errors import DomainError, forbidden, not_found
from dondoc_platform.http import (
    ErrorBody,
    Page,
    command,
    expected_version,
    offset_of,
    page_of,
    require_roles,
)
from dondoc_platform.names import canonical_review_group, clean, name_key
from dondoc_platform.projection import StoreProjection, reading

SERVICE = "directives"

KIND_LABELS = {
    DirectiveKind.KET_LUAN: "Kết luận", DirectiveKind.THONG_BAO_KET_LUAN: "Thông báo kết luận",
    DirectiveKind.CHI_THI: "Chỉ thị", DirectiveKind.NGHI_QUYET: "Nghị quyết",
    DirectiveKind.KE_HOACH: "Kế hoạch", DirectiveKind.CONG_VAN: "Công văn",
    DirectiveKind.KHAC: "Văn bản khác",
}

READERS = (Role.OFFICE, Role.LEADER, Role.AUDITOR)


class UnitView(BaseModel):
    unit_id: str
    code: str
    name: str
    previous_names: list[str]
    review_group: str | None
    parent_unit_id: str | None
    emails: list[str]
    leadership_emails: list[str]
    webhook_url: str | None = Field(
        None, description="Only for the roles that keep the directory (office, admin): a webhook URL may "
                          "carry the receiver's token. Absent from the answer for every other role.")
    active: bool
    version: int
    registered_at: datetime
    changed_at: datetime


class Revocation(BaseModel):
    reason: str
    decision: dict[str, Any]
    at: str


class DirectiveView(BaseModel):
    directive_id: str
    number: str
    kind: DirectiveKind
    kind_label: str = Field(description="The kind in Vietnamese")
    issuing_body: str
    issued_on: date
    summary: str
    signer: str | None
    secrecy: Secrecy
    urgency: Urgency
    review_group: str | None
    items: list[DirectiveItem]
    status: str = Field(description="issued | amended | revoked")
    amendments: int
    revocation: Revocation | None
    version: int
    registered_at: datetime
    changed_at: datetime


class IssuedEntry(BaseModel):
    index: int = Field(description="The entry's position in the request, from 0")
    directive_id: str
    number: str
    version: int
    location: str = Field(description="Where the directive is read: /directives/{id}")


class IssuedBatch(BaseModel):
    directives: list[IssuedEntry]


DIRECTORY_KEEPERS = (Role.OFFICE, Role.ADMIN)


def _unit_view(row: Any, principal: Principal) -> UnitView:
    data = dict(row._mapping)
    if not principal.has(*DIRECTORY_KEEPERS):
        del data["webhook_url"]  # left unset, so the answer omits it (response_model_exclude_unset)
    return UnitView.model_validate(data)


def _directive_view(row: Any) -> DirectiveView:
    data = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    data["kind_label"] = KIND_LABELS.get(DirectiveKind(data["kind"]), data["kind"])
    return DirectiveView.model_validate(data)


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


Limit = Annotated[int, Query(ge=1, le=200, description="Page size")]
Cursor = Annotated[str | None, Query(max_length=200, description="From `next_cursor`")]
IfMatch = Annotated[str | None, Header(max_length=50, description='The version last seen: "3"')]
CONFLICT = {409: {"model": ErrorBody, "description": "duplicate or changed meanwhile"},
            404: {"model": ErrorBody}}


def routers(app: DirectivesApp, engine: sa.Engine, projection: StoreProjection,
            authenticated: Any) -> list[APIRouter]:
    units_router = APIRouter(prefix="/units", tags=["units"])
    reader = reading(engine)  # the queries below only read
    directives_router = APIRouter(prefix="/directives", tags=["directives"])
    anyone = require_roles(authenticated, *[r for r in Role if r is not Role.SYSTEM])
    directory_keepers = require_roles(authenticated, *DIRECTORY_KEEPERS)
    office = require_roles(authenticated, Role.OFFICE)
    directive_readers = require_roles(authenticated, Role.OFFICE, Role.LEADER, Role.AUDITOR,
                                      Role.REVIEWER, Role.UNIT)

    def fresh() -> None:
        projection.catch_up()

    def unit_row(unit_id: str) -> Any:
        with reader.connect() as conn:
            row = conn.execute(sa.select(views.units).where(views.units.c.unit_id == unit_id)).first()
        if row is None:
            raise not_found("đơn vị", "unit", unit_id, field="unit_id")
        return row

    # ------------------------------------------------------------------ units

    @units_router.get("", response_model=Page[UnitView], response_model_exclude_unset=True,
                      summary="The unit directory")
    def list_units(principal: Principal = anyone,
                   name: Annotated[str | None, Query(max_length=300,
                                                     description="Exact name, any case/form")] = None,
                   review_group: Annotated[str | None, Query(max_length=200)] = None,
                   active: bool | None = None, cursor: Cursor = None, limit: Limit = 50,
                   ) -> Page[UnitView]:
        fresh()
        query = sa.select(views.units)
        if name is not None:
            query = query.where(views.units.c.name_key == name_key(name))
        if review_group is not None:
            query = query.where(views.units.c.review_group == (canonical_review_group(review_group)
                                                               or review_group))
        if active is not None:
            query = query.where(views.units.c.active == active)
        offset = offset_of(cursor)
        with reader.connect() as conn:
            rows = conn.execute(query.order_by(views.units.c.unit_id).offset(offset)
                                .limit(limit + 1)).all()
        return page_of([_unit_view(r, principal) for r in rows], offset, limit)

    @units_router.get("/{unit_id}", response_model=UnitView, response_model_exclude_unset=True,
                      responses={404: {"model": ErrorBody}})
    def get_unit(unit_id: Annotated[str, Path(max_length=128)], response: Response,
                 principal: Principal = anyone) -> UnitView:
        fresh()
        view = _unit_view(unit_row(unit_id), principal)
        _etag(response, view.version)
        return view

    @units_router.post("", response_model=UnitView, status_code=201, responses=CONFLICT,
                       summary="Register a unit")
    def register_unit(body: RegisterUnit, response: Response,
                      principal: Principal = directory_keepers) -> UnitView:
        with command(SERVICE, "register_unit"):
            unit = app.register_unit(body, principal.actor())
        fresh()
        view = _unit_view(unit_row(unit.unit_id), principal)
        _etag(response, view.version)
        response.headers["Location"] = f"/units/{unit.unit_id}"
        return view

    @units_router.patch("/{unit_id}", response_model=UnitView, responses=CONFLICT,
                        summary="Rename a unit or change its details (identity kept)")
    def change_unit(unit_id: Annotated[str, Path(max_length=128)], body: ChangeUnit,
                    response: Response, if_match: IfMatch = None,
                    principal: Principal = directory_keepers) -> UnitView:
        with command(SERVICE, "change_unit"):
            app.change_unit(unit_id, body, principal.actor(), expected_version(if_match))
        fresh()
        view = _unit_view(unit_row(unit_id), principal)
        _etag(response, view.version)
        return view

    # ------------------------------------------------------------------ directives

    def visible(principal: Principal) -> Any:
        """The SQL condition of the directives `principal` may see."""
        levels = [s.value for s in SECRECY_ORDER if principal.cleared_for(s)]
        condition = views.directives.c.secrecy.in_(levels)
        if principal.has(*READERS):
            return condition
        parties = []
        if principal.has(Role.UNIT) and principal.unit_id:
            parties.append(sa.and_(views.parties.c.kind == "unit",
                                   views.parties.c.value == principal.unit_id))
        group = canonical_review_group(principal.review_group)
        if principal.has(Role.REVIEWER) and group:
            parties.append(sa.and_(views.parties.c.kind == "group", views.parties.c.value == group))
        if not parties:
            return sa.false()
        concerned = sa.select(views.parties.c.directive_id).where(sa.or_(*parties))
        return sa.and_(condition, views.directives.c.directive_id.in_(concerned))

    def directive_row(directive_id: str, principal: Principal) -> Any:
        with reader.connect() as conn:
            row = conn.execute(sa.select(views.directives).where(
                views.directives.c.directive_id == directive_id, visible(principal))).first()
        if row is None:
            raise not_found("văn bản chỉ đạo", "directive", directive_id, field="directive_id")
        return row

    @directives_router.get("", response_model=Page[DirectiveView],
                           summary="Directives the caller may see, newest first")
    def list_directives(principal: Principal = directive_readers,
                        year: Annotated[int | None, Query(ge=1945, le=2200)] = None,
                        number: Annotated[str | None, Query(max_length=100)] = None,
                        kind: DirectiveKind | None = None,
                        issuing_body: Annotated[str | None, Query(max_length=200)] = None,
                        unit_id: Annotated[str | None, Query(max_length=128)] = None,
                        status: Annotated[str | None, Query(pattern="^(issued|amended|revoked)$")] = None,
                        cursor: Cursor = None, limit: Limit = 50) -> Page[DirectiveView]:
        fresh()
        table = views.directives
        query = sa.select(table).where(visible(principal))
        if year is not None:
            query = query.where(table.c.year == year)
        if number is not None:
            query = query.where(table.c.number == clean(number))
        if kind is not None:
            query = query.where(table.c.kind == kind.value)
        if issuing_body is not None:
            query = query.where(table.c.issuing_body == clean(issuing_body))
        if status is not None:
            query = query.where(table.c.status == status)
        if unit_id is not None:
            query = query.where(table.c.directive_id.in_(sa.select(views.parties.c.directive_id).where(
                views.parties.c.kind == "unit", views.parties.c.value == unit_id)))
        offset = offset_of(cursor)
        with reader.connect() as conn:
            rows = conn.execute(query.order_by(table.c.issued_on.desc(), table.c.directive_id)
                                .offset(offset).limit(limit + 1)).all()
        return page_of([_directive_view(r) for r in rows], offset, limit)

    @directives_router.get("/{directive_id}", response_model=DirectiveView,
                           responses={404: {"model": ErrorBody}})
    def get_directive(directive_id: Annotated[str, Path(max_length=64)], response: Response,
                      principal: Principal = directive_readers) -> DirectiveView:
        fresh()
        view = _directive_view(directive_row(directive_id, principal))
        _etag(response, view.version)
        return view

    @directives_router.post("", response_model=DirectiveView, status_code=201, responses=CONFLICT,
                            summary="Register a directive with its items and assignments")
    def issue_directive(body: IssueDirective, response: Response,
                        principal: Principal = office) -> DirectiveView:
        if not principal.cleared_for(body.secrecy):
            raise forbidden("Bạn không được phép đăng ký văn bản ở độ mật này",
                            "You are not cleared for this secrecy level")
        with command(SERVICE, "issue_directive"):
            directive = app.issue_directive(body, principal.actor())
        projection.recorded()
        # answered from the directive just saved, as the register will show it (in UTC, as
        # the register keeps moments): the register follows without holding up the caller
        view = _directive_view(views.issued_row(
            str(directive.id), directive, directive.items.values(), directive.version,
            directive.registered_at.astimezone(timezone.utc)))
        _etag(response, view.version)
        response.headers["Location"] = f"/directives/{directive.id}"
        return view

    @directives_router.post(
        "/batch", response_model=IssuedBatch, status_code=201,
        responses={**CONFLICT, 413: {"model": ErrorBody, "description": "body too large"}},
        summary=f"Register up to {MAX_BATCH} directives at once, all or none",
        description="Each entry as `POST /directives` takes it. Every entry is checked before "
                    "anything is recorded; a refusal names the entry and its field "
                    "(`directives[3].items[0].lead_unit_id`) and records nothing. All are "
                    "saved in one transaction; each publishes its DirectiveIssued as the "
                    f"single command does. At most {MAX_BATCH} entries (422 beyond) and "
                    f"{MAX_BATCH_BYTES // (1024 * 1024)} MiB (413 beyond).")
    def issue_directives(body: IssueDirectives, principal: Principal = office) -> IssuedBatch:
        for i, entry in enumerate(body.directives):
            if not principal.cleared_for(entry.secrecy):
                raise forbidden(f"Bạn không được phép đăng ký văn bản ở độ mật này "
                                f"(directives[{i}])",
                                f"You are not cleared for this secrecy level (directives[{i}])")
        with command(SERVICE, "issue_directives"):
            issued = app.issue_directives(body.directives, principal.actor())
        projection.recorded()
        return IssuedBatch(directives=[
            IssuedEntry(index=i, directive_id=str(d.id), number=d.number, version=d.version,
                        location=f"/directives/{d.id}") for i, d in enumerate(issued)])

    @directives_router.post("/{directive_id}/amendments", response_model=DirectiveView,
                            responses=CONFLICT, summary="Amend a directive's summary or items")
    def amend_directive(directive_id: Annotated[str, Path(max_length=64)], body: AmendDirective,
                        response: Response, if_match: IfMatch = None,
                        principal: Principal = office) -> DirectiveView:
        fresh()
        directive_row(directive_id, principal)
        with command(SERVICE, "amend_directive"):
            app.amend_directive(directive_id, body, principal.actor(), expected_version(if_match))
        fresh()
        view = _directive_view(directive_row(directive_id, principal))
        _etag(response, view.version)
        return view

    @directives_router.post("/{directive_id}/revocation", response_model=DirectiveView,
                            responses=CONFLICT, summary="Revoke a directive (its open tasks are withdrawn)")
    def revoke_directive(directive_id: Annotated[str, Path(max_length=64)], body: RevokeDirective,
                         response: Response, if_match: IfMatch = None,
                         principal: Principal = office) -> DirectiveView:
        fresh()
        directive_row(directive_id, principal)
        with command(SERVICE, "revoke_directive"):
            app.revoke_directive(directive_id, body, principal.actor(), expected_version(if_match))
        fresh()
        view = _directive_view(directive_row(directive_id, principal))
        _etag(response, view.version)
        return view

    return [units_router, directives_router]



class _TooLarge(Exception):
    pass


class BatchBodyLimit:
    """Refuses a batch body over MAX_BATCH_BYTES with a 413 before it is read whole (the
    idempotency record reads a body into memory before the endpoint sees it)."""

    def __init__(self, app: Any, path: str = "/directives/batch", limit: int = MAX_BATCH_BYTES) -> None:
        self.app, self.path, self.limit = app, path, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        read = 0
        refused = False

        async def counted() -> Any:
            nonlocal read, refused
            message = await receive()
            read += len(message.get("body", b""))
            if read > self.limit and not refused:
                # answered here: FastAPI turns any failure while it reads a body into a 400
                refused = True
                await self._refuse(send)
                raise _TooLarge
            return message

        async def unless_refused(message: Any) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counted, unless_refused)
        except _TooLarge:
            pass

    async def _refuse(self, send: Any) -> None:
        mib = self.limit // (1024 * 1024)
        error = DomainError("batch_too_large",
                            f"Lô văn bản vượt quá {mib} MiB; chia thành nhiều lô nhỏ hơn",
                            f"The batch is over {mib} MiB; send it in smaller batches",
                            field="directives", status=413)
        body = json.dumps(error.body()).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
