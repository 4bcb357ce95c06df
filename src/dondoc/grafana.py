"""Grafana for dondoc: the data sources (one definition for the provisioning files of docker
compose and Kubernetes and for `dondoc grafana push`), and the push itself, which creates or
updates the folder, the data sources and the dashboards on a Grafana an office already runs
(grafana-client), changing only what differs: a second push with nothing new writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dondoc.dashboards.kit import ANALYTICS, PROMETHEUS

FOLDER_UID = "dondoc"
FOLDER_TITLE = "Đôn đốc"
ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"

#: The data source fields a push manages (Grafana adds its own: id, orgId, version…).
MANAGED = ("name", "type", "access", "url", "user", "isDefault", "jsonData")


class GrafanaSettings(BaseSettings):
    """Where `dondoc grafana push` writes, and where the new data sources point."""

    model_config = SettingsConfigDict(env_prefix="DONDOC_GRAFANA_", extra="ignore")

    url: str = Field("http://127.0.0.1:3000", description="the office's Grafana")
    token: str | None = Field(None, description="a service account token (Editor or Admin)")
    user: str | None = Field(None, description="or a user name (basic authentication)")
    password: str | None = Field(None, description="and its password")
    prometheus_url: str = Field("http://127.0.0.1:9090", description="Prometheus, as Grafana reaches it")
    analytics_host: str = Field("127.0.0.1:5432", description="host:port of the analytics database")
    analytics_database: str = Field("dondoc_analytics", description="the analytics database")
    analytics_user: str = Field("dondoc_grafana", description="a read-only role on it")
    analytics_password: str | None = Field(None, description="that role's password")
    analytics_sslmode: str = Field("require", description="disable, require, verify-ca, verify-full")
    timeout_seconds: float = Field(30.0, gt=0, description="each request's timeout")


def datasources(*, prometheus_url: str, analytics_host: str, analytics_password: str | None,
                analytics_database: str = "dondoc_analytics", analytics_user: str = "dondoc_grafana",
                sslmode: str = "disable", prometheus_default: bool = False) -> list[dict[str, Any]]:
    """Prometheus for live operations, the analytics read models (PostgreSQL, read-only
    role) for the leadership's scorecards; the uids the dashboards name."""
    analytics: dict[str, Any] = {
        "name": "dondoc analytics", "uid": ANALYTICS.uid, "type": ANALYTICS.type_val,
        "access": "proxy", "url": analytics_host, "user": analytics_user, "isDefault": False,
        "jsonData": {"database": analytics_database, "sslmode": sslmode, "postgresVersion": 1700,
                     "timescaledb": False, "maxOpenConns": 10, "timeInterval": "1d"},
    }
    if analytics_password is not None:
        analytics["secureJsonData"] = {"password": analytics_password}
    return [
        {"name": "dondoc Prometheus", "uid": PROMETHEUS.uid, "type": PROMETHEUS.type_val,
         "access": "proxy", "url": prometheus_url, "isDefault": prometheus_default,
         "jsonData": {"timeInterval": "15s", "httpMethod": "POST"}},
        analytics,
    ]


def provisioning(target: Literal["compose", "kubernetes"]) -> dict[str, Any]:
    """The provisioning document of Grafana's data sources for a deployment target; the
    password comes from Grafana's environment (`$DONDOC_GRAFANA_DB_PASSWORD`)."""
    if target == "compose":
        sources = datasources(prometheus_url="http://prometheus:9090", analytics_host="postgres:5432",
                              analytics_password="$DONDOC_GRAFANA_DB_PASSWORD",
                              prometheus_default=True)
    else:
        sources = datasources(
            # the Prometheus Operator's service for the Prometheus in `monitoring`
            prometheus_url="http://prometheus-operated.monitoring.svc:9090",
            # CloudNativePG's read-write service of the analytics cluster (namespace dondoc)
            analytics_host="dondoc-analytics-db-rw.dondoc.svc:5432",
            analytics_password="$DONDOC_GRAFANA_DB_PASSWORD", sslmode="require")
    return {"apiVersion": 1, "datasources": sources}


def dashboard_files(directory: Path = DASHBOARDS) -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(directory.glob("*.json"))]


# =========================================================================== push


@dataclass(frozen=True)
class Step:
    kind: str  # folder | datasource | dashboard
    uid: str
    title: str
    action: str  # create | update | unchanged

    def __str__(self) -> str:
        return f"{self.action:9} {self.kind:10} {self.uid} ({self.title})"


def _comparable(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in ("id", "version")}


class GrafanaPush:
    def __init__(self, api: Any, *, sources: Sequence[dict[str, Any]],
                 dashboards: Sequence[dict[str, Any]], folder_uid: str = FOLDER_UID,
                 folder_title: str = FOLDER_TITLE, reset_secrets: bool = False) -> None:
        self.api = api
        self.sources = list(sources)
        self.dashboards = list(dashboards)
        self.folder_uid = folder_uid
        self.folder_title = folder_title
        self.reset_secrets = reset_secrets

    def run(self, *, dry_run: bool = False, report: Callable[[Step], None] = lambda _: None
            ) -> list[Step]:
        """Bring the folder, the data sources and the dashboards to what this version
        ships; with `dry_run`, only read and say what would change."""
        steps = [self._folder(dry_run)]
        report(steps[-1])
        for source in self.sources:
            steps.append(self._datasource(source, dry_run))
            report(steps[-1])
        for dashboard in self.dashboards:
            steps.append(self._dashboard(dashboard, dry_run))
            report(steps[-1])
        return steps

    def _folder(self, dry_run: bool) -> Step:
        existing = _fetch(self.api.folder.get_folder, self.folder_uid)
        return _reconcile(
            Step("folder", self.folder_uid, self.folder_title, ""), existing, dry_run,
            unchanged=lambda: existing["title"] == self.folder_title,
            create=lambda: self.api.folder.create_folder(self.folder_title, uid=self.folder_uid),
            update=lambda: self.api.folder.update_folder(self.folder_uid, title=self.folder_title,
                                                         overwrite=True))

    def _datasource(self, source: dict[str, Any], dry_run: bool) -> Step:
        uid = source["uid"]
        existing = _fetch(self.api.datasource.get_datasource_by_uid, uid)
        update = dict(source)
        if not self.reset_secrets:
            update.pop("secureJsonData", None)  # Grafana keeps the stored secrets
        return _reconcile(
            Step("datasource", uid, source["name"], ""), existing, dry_run,
            unchanged=lambda: not self.reset_secrets and not any(
                _differs(source.get(k), existing.get(k)) for k in MANAGED if k in source),
            create=lambda: self.api.datasource.create_datasource(source),
            update=lambda: self.api.datasource.update_datasource_by_uid(uid, update))

    def _dashboard(self, dashboard: dict[str, Any], dry_run: bool) -> Step:
        existing = _fetch(self.api.dashboard.get_dashboard, dashboard["uid"])
        document = {"dashboard": {**_comparable(dashboard), "id": None},
                    "folderUid": self.folder_uid, "overwrite": True,
                    "message": "dondoc grafana push"}
        return _reconcile(
            Step("dashboard", dashboard["uid"], dashboard["title"], ""), existing, dry_run,
            unchanged=lambda: existing.get("meta", {}).get("folderUid") == self.folder_uid
            and _comparable(existing.get("dashboard", {})) == _comparable(dashboard),
            create=lambda: self.api.dashboard.update_dashboard(document),
            update=lambda: self.api.dashboard.update_dashboard(document))


def _fetch(get: Callable[[str], Any], uid: str) -> Any:
    """The object Grafana holds under `uid`, or None when it has none."""
    from grafana_client.client import GrafanaClientError

    try:
        return get(uid)
    except GrafanaClientError as e:
        if e.status_code == 404:
            return None
        raise


def _reconcile(step: Step, existing: Any, dry_run: bool, *, unchanged: Callable[[], bool],
               create: Callable[[], Any], update: Callable[[], Any]) -> Step:
    """Create what is missing, update what differs, leave the rest; say which."""
    if existing is not None and unchanged():
        return replace(step, action="unchanged")
    if not dry_run:
        (create if existing is None else update)()
    return replace(step, action="create" if existing is None else "update")


def _differs(wanted: Any, existing: Any) -> bool:
    """A managed value differs; for mappings (jsonData) only the keys this push sets count."""
    if isinstance(wanted, dict):
        existing = existing if isinstance(existing, dict) else {}
        return any(_differs(v, existing.get(k)) for k, v in wanted.items())
    return wanted != existing


def connect(settings: GrafanaSettings) -> Any:
    from grafana_client import GrafanaApi

    credential: Any = settings.token or (
        (settings.user, settings.password) if settings.user and settings.password else None)
    return GrafanaApi.from_url(settings.url, credential=credential, timeout=settings.timeout_seconds)


def push(settings: GrafanaSettings, *, dry_run: bool = False, reset_secrets: bool = False,
         report: Callable[[Step], None] = lambda _: None) -> list[Step]:
    sources = datasources(prometheus_url=settings.prometheus_url,
                          analytics_host=settings.analytics_host,
                          analytics_password=settings.analytics_password,
                          analytics_database=settings.analytics_database,
                          analytics_user=settings.analytics_user,
                          sslmode=settings.analytics_sslmode)
    return GrafanaPush(connect(settings), sources=sources, dashboards=dashboard_files(),
                       reset_secrets=reset_secrets).run(dry_run=dry_run, report=report)
