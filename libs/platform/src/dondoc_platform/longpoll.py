"""A query that waits for its answer to change: `Prefer: wait=N` with `If-None-Match`.

A client that waits for an effect (the tasks of a notice, a claim on a task) would otherwise
ask again and again: every ask is a query through the whole HTTP stack, and the slower the
effects show, the more asks there are. Instead it sends the ETag of the answer it has
(`If-None-Match`) and how long it is willing to wait (`Prefer: wait=N`, RFC 7240): the
service answers as soon as the answer differs (200 with the new ETag), or at the end of the
wait with `304 Not Modified`. It re-runs the same query, under the same caller, when its
process learns that something was committed (`Changes.notify`: a commit on the service's
log, a consumer's batch applied), at most once every `min_gap` seconds per waiting request;
a process told of nothing (SQLite, an API replica without a listener) looks again every
`fallback` seconds; one told of every commit (`Changes.told_of_commits`: its own saves by
name, the others' by its log listener) only every few seconds, the net for a lost wake. So
authorisation, secrecy, filters, pagination and the ETag are the
query's own: the middleware only compares answers. An endpoint may declare what its answer
is made of (`reads(request, "task:T")`); the request is then looked at again only when a
change names one of those keys (or names nothing), not at every commit of the process.

A GET with `If-None-Match` and no `Prefer: wait` is an ordinary conditional GET (304 when
the answer has not changed). Every other request passes through untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the longest wait a request may ask for (seconds); a longer `wait=` is cut to this
MAX_WAIT = 60.0
#: the shortest time between two runs of one waiting request's query (seconds)
MIN_GAP = 0.02
#: how often a waiting request looks again when its process is told of no commit (seconds)
FALLBACK = 0.2


#: what a bare commit names (a process's log listener knows no more): it wakes the waiting
#: queries that declared nothing; those that did wait for the change of what they read
COMMIT = "commit"
#: the scope entry where an endpoint declares what its answer is made of (`reads`)
READS = "dondoc.reads"


def concerns(keys: frozenset[str], interest: frozenset[str] | None) -> bool:
    """Whether a change of `keys` (none: anything) may change an answer made of `interest`
    (None: undeclared, anything may)."""
    return interest is None or not keys or not keys.isdisjoint(interest)


class Changes:
    """What a process knows of commits that may change its queries' answers: a counter, the
    keys of the recent changes, and the waiters to wake. `notify` may be called from any
    thread.

    A change may name what it touched (`notify("task:T", "directive:D")`); one that names
    nothing may have touched anything. A waiting query that declared what its answer is made
    of (`reads`) is woken only by the changes that name one of its keys, or name nothing; one
    that declared nothing, by every change."""

    def __init__(self, remembered: int = 1024) -> None:
        self.generation = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        #: (generation, keys) of the latest changes, for waiters that looked meanwhile
        self._recent: deque[tuple[int, frozenset[str]]] = deque(maxlen=remembered)
        self._waiters: list[tuple[frozenset[str] | None, asyncio.Event]] = []
        self.requests_waiting = 0  # from their first look to their answer (`WaitForChange`)
        self._told: Callable[[], bool] | None = None
        self._told_fallback = FALLBACK

    def told_of_commits(self, told: Callable[[], bool], fallback: float) -> None:
        """While `told()`, this process hears of every commit that may change its queries'
        answers through `notify` (its own saves by name; other processes' commits through
        its log listener): its waiting queries then look again unwoken only every
        `fallback` seconds (never more often than without it), the safety net for a wake
        lost on the way rather than the way answers come. When `told()` turns false (the
        listener lost its connection) they look at the short interval again."""
        self._told, self._told_fallback = told, fallback

    def fallback(self, default: float) -> float:
        """How long a waiting query waits unwoken before it looks again."""
        if self._told is not None and self._told():
            return max(default, self._told_fallback)
        return default

    @property
    def waiting(self) -> bool:
        """Whether a request waits for its answer to change now (read from the event loop's
        thread; elsewhere a hint)."""
        return self.requests_waiting > 0

    def mark(self) -> int:
        """The generation now, before a look (from the event loop the waiters run in)."""
        self._loop = asyncio.get_running_loop()
        return self.generation

    def notify(self, *keys: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # nobody has waited yet: nothing to wake
        try:
            loop.call_soon_threadsafe(self._advance, frozenset(keys))
        except RuntimeError:
            pass  # the loop is closing

    def _advance(self, keys: frozenset[str]) -> None:
        self.generation += 1
        self._recent.append((self.generation, keys))
        for interest, event in self._waiters:
            if concerns(keys, interest):
                event.set()

    def changed_since(self, after: int, interest: frozenset[str] | None = None) -> bool:
        """Whether a change after generation `after` concerns `interest` (yes, if the
        changes since are too many to remember)."""
        if self.generation == after:
            return False
        if not self._recent or self._recent[0][0] > after + 1:
            return True
        for generation, keys in reversed(self._recent):
            if generation <= after:
                return False
            if concerns(keys, interest):
                return True
        return False

    async def wait(self, after: int, timeout: float,
                   interest: frozenset[str] | None = None) -> None:
        """Return when a change after generation `after` concerns `interest`, or after
        `timeout` seconds."""
        self._loop = asyncio.get_running_loop()
        if self.changed_since(after, interest):
            return
        waiter = (interest, asyncio.Event())
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter[1].wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.remove(waiter)


def reads(request: Any, *keys: str) -> None:
    """Declare, from an endpoint, what its answer is made of ("task:<id>", "directive:<id>"):
    if the request waits for its answer to change, it is looked at again only when a change
    names one of these keys (or names nothing), besides the fallback look. Declare every
    source of the answer, or nothing; outside a waiting request this does nothing."""
    declared = request.scope.get(READS)
    if declared is not None:
        declared.update(keys)


def weak_etag(*parts: Any) -> str:
    """A weak ETag of what an answer is made of, for answers whose body also carries the
    moment it was computed (`as_of`): equal parts, an equivalent answer (RFC 9110, 8.8.1)."""
    digest = hashlib.blake2b(json.dumps(parts, default=str, separators=(",", ":")).encode(),
                             digest_size=16)
    return f'W/"{digest.hexdigest()}"'


def requested_wait(value: str | None) -> float | None:
    """The seconds of a `Prefer: wait=N` header (RFC 7240; several preferences may be
    given, separated by commas); None without one or when N is not a number."""
    if not value:
        return None
    for preference in value.split(","):
        name, _, rest = preference.strip().partition("=")
        if name.strip().lower() == "wait":
            token = rest.split(";")[0].strip().strip('"')
            try:
                seconds = float(token)
            except ValueError:
                return None
            return max(0.0, min(seconds, MAX_WAIT)) if seconds == seconds else None
    return None


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110's weak comparison, as a GET's If-None-Match uses it."""
    wanted = {_opaque(t) for t in if_none_match.split(",")}
    return "*" in wanted or _opaque(etag) in wanted


class WaitForChange:
    """The ASGI middleware of the module's docstring: GETs with `Prefer: wait` or
    `If-None-Match` only; everything else passes through untouched."""

    def __init__(self, app: ASGIApp, changes: Changes | None = None, *,
                 min_gap: float | None = None, fallback: float | None = None) -> None:
        self.app = app
        self.changes = changes or Changes()
        self.min_gap = min_gap  # None: the module's (read at each request)
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if_none_match = prefer = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"prefer":
                prefer = value.decode("latin-1")
        wait = requested_wait(prefer)
        if if_none_match is None and wait is None:
            await self.app(scope, receive, send)
            return
        min_gap = MIN_GAP if self.min_gap is None else self.min_gap
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (wait or 0.0)
        applied = [(b"preference-applied", f"wait={wait:g}".encode())] if wait is not None else []
        disconnected: asyncio.Future[None] | None = None
        waits = if_none_match is not None and wait is not None
        self.changes.requests_waiting += waits
        try:
            while True:
                generation = self.changes.mark()
                started = loop.time()
                declared: set[str] = set()
                status, headers, body = await self._answer(scope, declared)
                interest = frozenset(declared) or None
                etag = _header(headers, b"etag")
                if status != 200:
                    break  # an error, a redirect: answered as it is, at once
                if etag is None:
                    etag = 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
                    headers.append((b"etag", etag.encode()))
                if if_none_match is None or not matches(if_none_match, etag):
                    break
                left = deadline - loop.time()
                if left <= 0:
                    status, body = 304, b""
                    headers = [(b"etag", etag.encode())]
                    break
                if disconnected is None:
                    disconnected = asyncio.ensure_future(_disconnection(receive))
                # no sooner than `min_gap` after the last look began; then at the next commit
                # (or at once if one came meanwhile), at the latest after `fallback`
                await asyncio.sleep(max(0.0, min(left, started + min_gap - loop.time())))
                left = deadline - loop.time()
                if left > 0:
                    fallback = self.changes.fallback(
                        FALLBACK if self.fallback is None else self.fallback)
                    told = asyncio.ensure_future(
                        self.changes.wait(generation, min(left, fallback), interest))
                    done, _ = await asyncio.wait({told, disconnected},
                                                 return_when=asyncio.FIRST_COMPLETED)
                    told.cancel()
                    if disconnected in done:
                        return  # the client went away: nobody to answer
        finally:
            self.changes.requests_waiting -= waits
            if disconnected is not None and not disconnected.done():
                disconnected.cancel()
        headers = [h for h in headers if h[0] != b"content-length"]
        if status == 304:
            headers = [h for h in headers if h[0] != b"content-type"]
        headers += [(b"content-length", str(len(body)).encode()), *applied]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope,
                      declared: set[str]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Run the query once, keeping its answer (a GET has no body to read) and what the
        endpoint declared it is made of (`reads`) in `declared`."""
        answer: dict[str, Any] = {"status": 500, "headers": [], "body": b""}

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = [(k.lower(), v) for k, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        await self.app({**scope, READS: declared}, receive, keep)
        return answer["status"], answer["headers"], answer["body"]


async def _disconnection(receive: Receive) -> None:
    """Return when the client has gone (the request's own message comes first)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


#: a header's value: visible ASCII and spaces (RFC 9110, 5.5, without obsolete text)
_FIELD_VALUE = "^[\\x20-\\x7E]*$"
#: the request headers `WaitForChange` reads, as OpenAPI parameters of every GET
WAIT_PARAMETERS = (
    {"name": "If-None-Match", "in": "header", "required": False,
     "description": ("Thẻ ETag của câu trả lời đã có: trả 304 nếu câu trả lời chưa đổi. / "
                     "The ETag of the answer the caller has: 304 while the answer has not "
                     "changed (RFC 9110, weak comparison; `*` matches any answer)."),
     "schema": {"type": "string", "maxLength": 1024, "pattern": _FIELD_VALUE}},
    {"name": "Prefer", "in": "header", "required": False,
     "description": ("`wait=N`: chờ tối đa N giây (không quá 60) cho đến khi câu trả lời khác "
                     "`If-None-Match`. / `wait=N` (RFC 7240): with `If-None-Match`, answer as "
                     "soon as the answer differs from it, else 304 after N seconds (at most "
                     f"{MAX_WAIT:g}); `Preference-Applied` tells the wait applied."),
     "schema": {"type": "string", "maxLength": 256, "pattern": _FIELD_VALUE}},
)
_ETAG = {"description": ("Thẻ của câu trả lời này (khi yêu cầu có `If-None-Match` hoặc "
                         "`Prefer: wait`) / This answer's entity tag (always when the request "
                         "has `If-None-Match` or `Prefer: wait`; otherwise if the query has one)"),
         "schema": {"type": "string"}}
_NOT_MODIFIED = {
    "description": ("Câu trả lời chưa đổi so với `If-None-Match` (hết thời gian chờ) / "
                    "The answer still matches `If-None-Match` (at the end of the wait, if any)"),
    "headers": {"ETag": {"description": ("Thẻ của câu trả lời hiện tại / The current "
                                         "answer's entity tag"),
                         "schema": {"type": "string"}}}}


def document(app: Any) -> None:
    """Declare in a FastAPI app's OpenAPI document what `WaitForChange` does for every GET:
    the `If-None-Match` and `Prefer` headers, the `ETag` of a 200 and the 304 answer.
    Operations that declare these headers themselves keep their own."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:  # built, and declared, once
            return app.openapi_schema
        schema = build()  # FastAPI keeps it as `openapi_schema`: declared below in place
        for path_item in schema.get("paths", {}).values():
            operation = path_item.get("get")
            if operation is None:
                continue
            parameters = operation.setdefault("parameters", [])
            declared = {(p.get("in"), p.get("name", "").lower()) for p in parameters}
            parameters += [dict(p) for p in WAIT_PARAMETERS
                           if ("header", p["name"].lower()) not in declared]
            responses = operation.setdefault("responses", {})
            ok = responses.get("200")
            if ok is not None:
                ok.setdefault("headers", {}).setdefault("ETag", dict(_ETAG))
            responses.setdefault("304", dict(_NOT_MODIFIED))
        return schema

    app.openapi = openapi


__all__ = ["COMMIT", "Changes", "WAIT_PARAMETERS", "WaitForChange", "concerns", "document",
           "matches", "reads", "requested_wait", "weak_etag"]
