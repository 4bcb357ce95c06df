"""The HTTP side every service shares: app factory, errors, auth, idempotency, paging.

`create_app()` gives a FastAPI app with `/healthz`, `/readyz`, `/metrics`, bilingual error
bodies (`Accept-Language: en` for English first), request metrics, and replay of commands
sent again with the same `Idempotency-Key`.
"""


import base64
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dondoc_contracts import Role
from dondoc_platform.auth import AuthError, Principal, TokenVerifier
from dondoc_platform.errors import DomainError, forbidden, validation_error
from dondoc_platform.longpoll import Changes, WaitForChange, document as document_waits

HTTP_REQUESTS = Counter("dondoc_http_requests_total", "HTTP requests served",
                        ["service", "method", "route", "status"])
HTTP_SECONDS = Histogram("dondoc_http_request_duration_seconds", "HTTP request duration",
                         ["service", "method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
COMMANDS = Counter("dondoc_commands_total", "Commands accepted or rejected, by reason",
                   ["service", "command", "outcome", "reason"])
COMMAND_SECONDS = Histogram("dondoc_command_duration_seconds", "Command handling time",
                            ["service", "command"],
                            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))


def language(request: Request) -> str:
    accept = request.headers.get("accept-language", "vi").lower()
    return "en" if accept.startswith("en") else "vi"


ReadyCheck = Callable[[], Awaitable[bool] | bool]

# FastAPI's own refusals (a body that is not JSON, an unknown path, a wrong method) in the
# same bilingual shape as every other error
_HTTP_MESSAGES = {
    400: ("Không đọc được yêu cầu (nội dung không phải JSON hợp lệ?)",
          "The request could not be read (is the body valid JSON?)"),
    404: ("Không có đường dẫn này", "No such path"),
    405: ("Đường dẫn này không nhận phương thức đó", "This path does not take that method"),
}


def create_app(*, service: str, title: str, description: str, version: str = "1.0.0",
               ready_checks: Sequence[ReadyCheck] = (), lifespan: Any = None,
               changes: Changes | None = None) -> FastAPI:
    """`changes`: what tells the app's queries that the service's read models may have
    moved (`longpoll.Changes`), for the GETs that wait for their answer to change."""
    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan,
                  responses={400: {"model": ErrorBody}, 422: {"model": ErrorBody},
                             401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
    app.state.service = service

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(exc.body(language(request)), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        error = validation_error(list(exc.errors()))
        return JSONResponse(error.body(language(request)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        vi, en = _HTTP_MESSAGES.get(exc.status_code, (str(exc.detail), str(exc.detail)))
        error = DomainError(f"http_{exc.status_code}", vi, en, status=exc.status_code)
        return JSONResponse(error.body(language(request)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(AuthError)
    async def unauthenticated(request: Request, exc: AuthError) -> JSONResponse:
        body = {"error": {"code": "unauthenticated",
                          "message": exc.message_vi if language(request) == "vi" else exc.message_en,
                          "message_vi": exc.message_vi, "message_en": exc.message_en}}
        return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz", tags=["operations"], include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], include_in_schema=False)
    async def readyz() -> JSONResponse:
        for check in ready_checks:
            result = check()
            if not (await result if isinstance(result, Awaitable) else result):
                return JSONResponse({"status": "not ready"}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestMetrics, service=service)
    # outside the metrics: each run of a waiting query is timed as a request of its own
    app.add_middleware(WaitForChange, changes=changes)
    document_waits(app)
    return app


class RequestMetrics:
    """Counts requests by route template and status and times them (a plain ASGI middleware:
    Starlette's BaseHTTPMiddleware costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            if template not in ("/metrics", "/healthz", "/readyz"):
                HTTP_REQUESTS.labels(self.service, scope["method"], template,
                                     str(status["code"])).inc()
                HTTP_SECONDS.labels(self.service, scope["method"], template).observe(
                    time.perf_counter() - started)


class ErrorDetail(BaseModel):
    code: str
    message: str
    message_vi: str
    message_en: str
    field: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


# --------------------------------------------------------------------------- authentication


def authenticator(verifier: TokenVerifier) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency that turns the bearer token into a Principal (401 otherwise).

    It runs on the event loop (FastAPI sends a sync dependency to its thread pool and back:
    two thread switches per request for this one and `require_roles`' check, for a check
    that takes a tenth of a millisecond of CPU); only a verifier that may fetch the issuer's
    keys over the network (`TokenVerifier.fetches_keys`) verifies on the thread pool."""
    import anyio.to_thread

    async def authenticated(authorization: Annotated[str | None, Header()] = None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthError("a bearer token is required", "cần token xác thực (Bearer)")
        token = authorization.split(" ", 1)[1].strip()
        if verifier.fetches_keys:
            return await anyio.to_thread.run_sync(verifier.verify, token)
        return verifier.verify(token)

    return authenticated


def require_roles(authenticated: Callable[..., Any], *roles: Role) -> Any:
    """A dependency that admits only principals holding one of `roles` (403 otherwise)."""
    allowed = ", ".join(r.value for r in roles)

    async def check(principal: Annotated[Principal, Depends(authenticated)]) -> Principal:
        if not principal.has(*roles):
            raise forbidden(f"Vai trò của bạn không được phép (cần: {allowed})",
                            f"Your role may not do this (needs: {allowed})")
        return principal

    return Depends(check)


# --------------------------------------------------------------------------- command metrics


class command:
    """`with command(service, "issue_directive"):` counts accepted / rejected-by-reason."""

    def __init__(self, service: str, name: str) -> None:
        self.service, self.name = service, name

    def __enter__(self) -> "command":
        self.started = time.perf_counter()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        COMMAND_SECONDS.labels(self.service, self.name).observe(time.perf_counter() - self.started)
        if exc is None:
            COMMANDS.labels(self.service, self.name, "accepted", "").inc()
        elif isinstance(exc, DomainError):
            COMMANDS.labels(self.service, self.name, "rejected", exc.code).inc()
        else:
            COMMANDS.labels(self.service, self.name, "failed", type(exc).__name__).inc()


# --------------------------------------------------------------------------- paging

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next page")
    total: int | None = None


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as e:
        raise DomainError("invalid_cursor", "Con trỏ phân trang không hợp lệ",
                          "Invalid pagination cursor", field="cursor") from e


MAX_OFFSET = 2**31 - 1


def offset_of(cursor: str | None) -> int:
    """The offset a cursor of `page_of` carries (0 without one). A cursor edited by hand to
    hold anything else (a negative number, text, a list, an offset past what any database
    takes) is a 422 naming `cursor`, not a database error."""
    value = decode_cursor(cursor)
    if value is None:
        return 0
    if type(value) is not int or not 0 <= value <= MAX_OFFSET:
        raise DomainError("invalid_cursor", "Con trỏ phân trang không hợp lệ",
                          "Invalid pagination cursor", field="cursor")
    return value


def page_of(items: list[T], offset: int, limit: int, total: int | None = None) -> Page[T]:
    """A page from `limit + 1` fetched rows starting at `offset`."""
    more = len(items) > limit
    return Page(items=items[:limit], next_cursor=encode_cursor(offset + limit) if more else None,
                total=total)


# --------------------------------------------------------------------------- idempotency


IDEMPOTENCY = sa.Table(
    "dondoc_idempotency", sa.MetaData(),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("subject", sa.String(200), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.Integer, nullable=True),  # NULL while the first request runs
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.Column("content_type", sa.String(100), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.current_timestamp()),
)

_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


class IdempotencyMiddleware:
    """A command sent again with the same `Idempotency-Key` (by the same caller) gets the
    first response back and changes nothing; the same key with another body is a 422."""

    def __init__(self, app: ASGIApp, engine: sa.Engine) -> None:
        self.app = app
        self.engine = engine
        IDEMPOTENCY.metadata.create_all(engine)
        c = IDEMPOTENCY.c
        if engine.dialect.name == "postgresql":
            # On PostgreSQL the claim and the answer are one statement each, in autocommit
            # (no BEGIN and COMMIT around them: three round trips of four, and two of
            # three). The claim need not wait for its WAL flush: the command's own events
            # commit after it and their flush takes the claim's record with it (the log is
            # written in order); a claim lost with a database crash had nothing recorded
            # under it. `set_config(…, true)` turns the flush off for the statement's own
            # transaction only (PostgreSQL decides on the flush before it resets the
            # setting at the end of that transaction); the answer keeps the flush.
            self.writer = engine.execution_options(isolation_level="AUTOCOMMIT")
            relaxed = sa.select(sa.bindparam("key", type_=c.key.type),
                                sa.bindparam("subject", type_=c.subject.type),
                                sa.bindparam("request_hash", type_=c.request_hash.type)).select_from(
                sa.select(sa.func.set_config("synchronous_commit", "off", True)).subquery())
            self._insert_new = postgresql.insert(IDEMPOTENCY).from_select(
                [c.key, c.subject, c.request_hash], relaxed).on_conflict_do_nothing().returning(c.key)
        else:
            self.writer = engine
            self._insert_new = sqlite.insert(IDEMPOTENCY).on_conflict_do_nothing().returning(c.key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _MUTATING:
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers.get("idempotency-key")
        if not key:
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        subject = hashlib.sha256(headers.get("authorization", "").encode()).hexdigest()[:32]
        digest = hashlib.sha256(scope["method"].encode() + scope["path"].encode() + b"\0" + body).hexdigest()
        lang = "en" if headers.get("accept-language", "").startswith("en") else "vi"
        import anyio

        outcome = await anyio.to_thread.run_sync(self._claim, key[:200], subject, digest)
        if outcome is not None:
            await _send_json_or_replay(send, outcome, lang)
            return
        captured: dict[str, Any] = {"status": 500, "body": b"", "type": "application/json"}

        async def replay_receive() -> Message:
            nonlocal body
            chunk, body = body, b""
            return {"type": "http.request", "body": chunk, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for k, v in message.get("headers", []):
                    if k.decode().lower() == "content-type":
                        captured["type"] = v.decode()
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            await anyio.to_thread.run_sync(self._finish, key[:200], subject, captured)

    def _claim(self, key: str, subject: str, digest: str) -> tuple[int, bytes, str] | DomainError | None:
        with self.writer.begin() as conn:
            # the usual case, a new key, in one statement; the row is read only for a repeat
            claimed = conn.execute(self._insert_new, {
                "key": key, "subject": subject, "request_hash": digest}).first()
            if claimed is not None:
                return None
            row = conn.execute(sa.select(IDEMPOTENCY).where(
                IDEMPOTENCY.c.key == key, IDEMPOTENCY.c.subject == subject)).first()
        if row is not None and row.request_hash != digest:
            return DomainError("idempotency_key_reused",
                               "Khóa Idempotency-Key đã dùng cho một yêu cầu khác",
                               "This Idempotency-Key was used for a different request",
                               field="Idempotency-Key", status=422)
        if row is None or row.status is None:  # running now (or failed and just released)
            return DomainError("idempotency_in_progress", "Yêu cầu với khóa này đang được xử lý",
                               "A request with this key is being processed", status=409)
        return (row.status, row.body or b"", row.content_type or "application/json")

    def _finish(self, key: str, subject: str, captured: dict[str, Any]) -> None:
        with self.writer.begin() as conn:
            where = (IDEMPOTENCY.c.key == key) & (IDEMPOTENCY.c.subject == subject)
            if captured["status"] >= 500:
                conn.execute(IDEMPOTENCY.delete().where(where))  # a failure may be retried
            else:
                conn.execute(IDEMPOTENCY.update().where(where).values(
                    status=captured["status"], body=captured["body"], content_type=captured["type"]))


async def _send_json_or_replay(send: Send, outcome: tuple[int, bytes, str] | DomainError, lang: str) -> None:
    if isinstance(outcome, DomainError):
        status, body, ctype = outcome.status, json.dumps(outcome.body(lang)).encode(), "application/json"
        extra: list[tuple[bytes, bytes]] = []
    else:
        status, body, ctype = outcome
        extra = [(b"idempotent-replay", b"true")]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype.encode()),
                            (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})


def expected_version(if_match: str | None) -> int | None:
    """`If-Match: "3"` (or W/"3") → 3: the version the caller last saw."""
    if not if_match:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not (raw.isascii() and raw.isdigit()):
        raise DomainError("invalid_if_match", "If-Match phải là số phiên bản",
                          "If-Match must be a version number", field="If-Match", status=400)
    return int(raw)


def check_version(current: int, expected: int | None, what_vi: str, what_en: str) -> None:
    if expected is not None and expected != current:
        raise DomainError("version_conflict",
                          f"{what_vi} đã thay đổi (phiên bản {current}, bạn gửi {expected})",
                          f"{what_en} changed meanwhile (version {current}, you sent {expected})",
                          field="If-Match", status=409)
