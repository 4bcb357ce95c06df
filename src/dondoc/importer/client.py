"""The services' HTTP APIs as the import uses them: one office token, every list paged
through, every command with an `Idempotency-Key`, every refusal kept with its field and its
reason in Vietnamese and English."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

SERVICES = ("directives", "tasks", "reports")


@dataclass
class ApiError(Exception):
    """A service refused a request (or could not be reached)."""

    service: str
    method: str
    path: str
    status: int
    code: str
    message_vi: str
    message_en: str
    field: str | None = None

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return (f"{self.service} {self.method} {self.path}: {self.status} {self.code}{where}: "
                f"{self.message_vi} / {self.message_en}")


def service_urls(overrides: dict[str, str | None] | None = None) -> dict[str, str]:
    """Where each service answers: the option given, else DONDOC_<SERVICE>_URL, else where
    the local stack runs it (DONDOC_SERVICES_BASE_PORT, or the default ports)."""
    from dondoc.dev import StackConfig
    from dondoc.dev.services import service_port

    base_port = StackConfig.from_env().services_base_port
    urls = {}
    for name in SERVICES:
        given = (overrides or {}).get(name)
        urls[name] = (given or os.environ.get(f"DONDOC_{name.upper()}_URL")
                      or f"http://127.0.0.1:{service_port(name, base_port)}").rstrip("/")
    return urls


def idempotency_key(*parts: Any) -> str:
    """A key derived from what the command says, so the same row always sends the same key."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str,
                                       ensure_ascii=False).encode()).hexdigest()
    return f"import-{digest[:40]}"


class Suite:
    """HTTP clients of the directives, tasks and reports services, as the office."""

    def __init__(self, urls: dict[str, str], token: str, *, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": "vi"}
        self.clients = {name: httpx.Client(base_url=url, headers=headers, timeout=timeout)
                        for name, url in urls.items()}

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def __enter__(self) -> Suite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests -------------------------------------------------------------------------

    def request(self, service: str, method: str, path: str, *, json_body: Any = None,
                params: dict[str, Any] | None = None, key: str | None = None,
                attempts: int = 5) -> httpx.Response:
        """One request; a refusal raises ApiError. Connection failures and 5xx answers are
        tried again a few times (with the same Idempotency-Key, so a command lands once)."""
        headers = {"Idempotency-Key": key} if key else {}
        delay = 0.5
        for attempt in range(1, attempts + 1):
            try:
                response = self.clients[service].request(method, path, json=json_body, params=params,
                                                          headers=headers)
            except httpx.TransportError as e:
                if attempt == attempts:
                    url = self.clients[service].base_url
                    raise ApiError(service, method, path, 0, "unreachable",
                                   f"không kết nối được dịch vụ {service} ({url}): {e}. Dịch vụ đã "
                                   "chạy chưa? Khởi động: `make demo` hoặc `.venv/bin/dondoc dev up "
                                   "kafka services`",
                                   f"cannot reach the {service} service ({url}): {e}. Are the "
                                   "services running? Start them with `make demo` or "
                                   "`.venv/bin/dondoc dev up kafka services`") from e
            else:
                again = response.status_code >= 500 or _in_progress(response)
                if not again or attempt == attempts:
                    if response.status_code >= 400:
                        raise _error(service, method, path, response)
                    return response
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")  # pragma: no cover

    def get(self, service: str, path: str, **params: Any) -> Any:
        return self.request(service, "GET", path, params=_query(params)).json()

    def post(self, service: str, path: str, body: Any, key: str) -> Any:
        return self.request(service, "POST", path, json_body=body, key=key).json()

    def get_all(self, service: str, path: str, **params: Any) -> list[Any]:
        """Every item of a paged list."""
        return list(self._pages(service, path, params))

    def _pages(self, service: str, path: str, params: dict[str, Any]) -> Iterator[Any]:
        cursor = None
        while True:
            page = self.get(service, path, **params, limit=200, cursor=cursor)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return


def _query(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in params.items():
        if value is None:
            continue
        out[name] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


def _in_progress(response: httpx.Response) -> bool:
    """The same Idempotency-Key is still being handled (an earlier attempt): wait for it."""
    if response.status_code != 409:
        return False
    try:
        return response.json()["error"]["code"] == "idempotency_in_progress"
    except (ValueError, KeyError, TypeError):
        return False


def _error(service: str, method: str, path: str, response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        error = {"code": "http_error", "message_vi": response.text[:300], "message_en": response.text[:300]}
    return ApiError(service, method, path, response.status_code, error.get("code", "error"),
                    error.get("message_vi") or error.get("message", ""),
                    error.get("message_en") or error.get("message", ""), error.get("field"))


def wait_for(condition: Callable[[], Any], *, timeout: float, what_vi: str, what_en: str,
             pause: float = 0.2) -> Any:
    """Ask `condition()` again until it gives a true value; an ApiError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ApiError("import", "WAIT", "", 0, "timeout",
                           f"hết {timeout:.0f} giây chờ {what_vi}",
                           f"gave up after {timeout:.0f} s waiting for {what_en}")
        time.sleep(pause)
        pause = min(pause * 1.5, 2.0)
