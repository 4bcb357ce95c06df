"""A small HTTP server that answers the part of Grafana's HTTP API `dondoc grafana push` uses
(folders, data sources by uid, dashboards by uid) the way Grafana does, keeps what it is
sent, and records every request: a real server on 127.0.0.1 (no Grafana runs offline)."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    authorization: str | None


@dataclass
class GrafanaState:
    token: str
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    next_id: int = 1

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]


class RecordingGrafana:
    def __init__(self, token: str = "glsa_test_token") -> None:
        self.state = GrafanaState(token)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> RecordingGrafana:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def _handler(state: GrafanaState) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            authorization = self.headers.get("Authorization")
            with lock:
                recorded = json.loads(raw) if raw else None  # as sent, whatever the route does
                state.requests.append(Recorded(self.command, self.path, recorded, authorization))
                if authorization != f"Bearer {state.token}":
                    self._answer(401, {"message": "Unauthorized"})
                    return
                status, answer = _route(state, self.command, self.path, body)
            self._answer(status, answer)

        do_GET = do_POST = do_PUT = _serve

    return Handler


def _new_id(state: GrafanaState) -> int:
    state.next_id += 1
    return state.next_id


def _route(state: GrafanaState, method: str, path: str, body: Any) -> tuple[int, Any]:
    if method == "POST" and path == "/api/folders":
        if body["uid"] in state.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        state.folders[body["uid"]] = {"uid": body["uid"], "title": body["title"], "id": _new_id(state),
                                      "version": 1}
        return 200, state.folders[body["uid"]]
    if m := re.fullmatch(r"/api/folders/([\w-]+)", path):
        folder = state.folders.get(m[1])
        if folder is None:
            return 404, {"message": "folder not found"}
        if method == "PUT":
            folder.update(title=body["title"], version=folder["version"] + 1)
        return 200, folder
    if method == "POST" and path == "/api/datasources":
        if any(d["name"] == body["name"] for d in state.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        stored = {**body, "id": _new_id(state), "orgId": 1, "version": 1, "readOnly": False}
        stored["secureJsonFields"] = {k: True for k in body.pop("secureJsonData", {}) or {}}
        stored.pop("secureJsonData", None)
        state.datasources[body["uid"]] = stored
        return 200, {"datasource": stored, "id": stored["id"], "message": "Datasource added"}
    if m := re.fullmatch(r"/api/datasources/uid/([\w-]+)", path):
        stored = state.datasources.get(m[1])
        if stored is None:
            return 404, {"message": "Data source not found"}
        if method == "PUT":
            secure = dict(stored.get("secureJsonFields", {}))
            secure.update({k: True for k in (body.pop("secureJsonData", None) or {})})
            stored.update({**body, "version": stored["version"] + 1, "secureJsonFields": secure})
            return 200, {"datasource": stored, "message": "Datasource updated"}
        return 200, stored
    if method == "POST" and path == "/api/dashboards/db":
        dashboard = dict(body["dashboard"])
        previous = state.dashboards.get(dashboard["uid"])
        if previous is not None and not body.get("overwrite"):
            return 412, {"status": "version-mismatch"}
        version = previous["dashboard"]["version"] + 1 if previous else 1
        dashboard.update(id=previous["dashboard"]["id"] if previous else _new_id(state),
                         version=version)
        state.dashboards[dashboard["uid"]] = {
            "dashboard": dashboard, "meta": {"folderUid": body.get("folderUid"), "version": version}}
        return 200, {"status": "success", "uid": dashboard["uid"], "version": version}
    if m := re.fullmatch(r"/api/dashboards/uid/([\w-]+)", path):
        stored = state.dashboards.get(m[1])
        return (200, stored) if stored else (404, {"message": "Dashboard not found"})
    return 404, {"message": f"no route {method} {path}"}
