"""The suite as operators see it: each service started with `dondoc serve` on a free port
(its own PostgreSQL database, its own topics, a manual clock), demo-like traffic through
the APIs and Kafka, and what an operator watches goes wrong on purpose once (a rejected
command, a poison message, a redelivered event). The observability tests read the
services' /metrics and run Prometheus against them."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dondoc.dev.process import free_port, wait_until
from dondoc.dev.services import ServiceProcess
from dondoc_platform.auth import DevSigner
from dondoc_platform.calendar import local_day
from dondoc_platform.clock import SystemClock
from tests.support.services import UNITS, create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
#: The services these tests start (each brings its own /metrics).
OBSERVED = ("directives", "tasks", "reports", "notifications", "analytics")
#: The services whose logs the analytics service checkpoints and verifies.
AUDITED = ("directives", "tasks", "reports", "notifications")

#: What a service needs besides the common settings.
EXTRA_ENV: dict[str, dict[str, str]] = {
    # occasions of long-past deadlines are sent rather than expired: the mail goes out today
    "notifications": {"DONDOC_STALE_AFTER_HOURS": "87600", "DONDOC_PLANNER_POLL_SECONDS": "1",
                      "DONDOC_OFFICE_EMAILS": '["vanphong@example.vn"]'},
    # checkpoints and a full `audit verify` every few seconds rather than 5 min and a day
    "analytics": {"DONDOC_CHECKPOINT_INTERVAL_SECONDS": "2",
                  "DONDOC_AUDIT_VERIFY_INTERVAL_SECONDS": "5"},
}


class Mailbox:
    """A real SMTP server (aiosmtpd) on a free port that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.received: list[Any] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append(envelope)
        return "250 2.0.0 Ok: queued"


@dataclass
class ObservedSuite:
    processes: dict[str, ServiceProcess]
    signer: DevSigner
    kafka_bootstrap: str
    topic_prefix: str
    today: date
    mailbox: Mailbox
    databases: list[str] = field(default_factory=list)

    def analytics_sqlalchemy_url(self) -> str:
        from dondoc_platform.stores import StoreURL

        return StoreURL.parse(self.databases[OBSERVED.index("analytics")]).sqlalchemy_url()

    def url(self, service: str) -> str:
        return self.processes[service].url

    def headers(self, role: str, **claims: Any) -> dict[str, str]:
        token = self.signer.token(subject=f"{role}.observer", roles=[role],
                                  name=f"Người theo dõi {role}", **claims)
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, service: str, method: str, path: str, body: Any = None,
             role: str = "office") -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url(service)}{path}", data=data, method=method,
                                         headers=self.headers(role))
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def metrics(self, service: str) -> str:
        with urllib.request.urlopen(f"{self.url(service)}/metrics", timeout=10) as response:
            return response.read().decode()

    def wait_for_metrics(self, service: str, condition: Callable[[str], bool], *,
                         what: str, timeout: float = 90.0) -> str:
        seen: dict[str, str] = {}

        def holds() -> bool:
            seen["text"] = self.metrics(service)
            return condition(seen["text"])

        wait_until(holds, timeout=timeout, what=f"{what} on {service}'s /metrics",
                   detail=lambda: seen.get("text", "")[-3000:])
        return seen["text"]

    def stop(self, admin_url: str) -> None:
        for process in reversed(self.processes.values()):
            process.stop()
        self.mailbox.controller.stop()
        for url in self.databases:
            drop_database(admin_url, url)


def start_suite(home: Path, *, kafka_bootstrap: str, admin_url: str, topic_prefix: str,
                extra_env: dict[str, dict[str, str]] | None = None) -> ObservedSuite:
    """The services on their own databases; `extra_env` (by service) replaces EXTRA_ENV."""
    extra_env = EXTRA_ENV if extra_env is None else extra_env
    signer = DevSigner(home / "auth" / "jwks.json")
    signer.ensure_key()
    mailbox = Mailbox()
    mailbox.controller.start()
    suite = ObservedSuite({}, signer, kafka_bootstrap, topic_prefix,
                          today=local_day(SystemClock().now()), mailbox=mailbox)
    try:
        stores = {name: create_database(admin_url) for name in OBSERVED}
        suite.databases.extend(stores.values())
        audit = {f"DONDOC_AUDIT_{name.upper()}_STORE_URL": stores[name] for name in AUDITED}
        for name in OBSERVED:
            process = ServiceProcess(name, home, free_port(), env={
                "DONDOC_KAFKA_BOOTSTRAP": kafka_bootstrap,
                "DONDOC_STORE_URL": stores[name],
                "DONDOC_TOPIC_PREFIX": topic_prefix,
                "DONDOC_AUTH_JWKS_FILE": str(signer.jwks_file),
                "DONDOC_CLOCK": "manual",
                "DONDOC_WATCHER_POLL_SECONDS": "0.5",
                "DONDOC_DATA_DIR": str(home / "data"),
                "DONDOC_SMTP_HOST": "127.0.0.1",
                "DONDOC_SMTP_PORT": str(mailbox.port),
                **extra_env.get(name, {}),
                **(audit | {"DONDOC_AUDIT_SIGNING_KEY": _signing_key()} if name == "analytics"
                   else {}),
            })
            suite.processes[name] = process
            process.start()
    except BaseException:
        suite.stop(admin_url)
        raise
    return suite


def _signing_key() -> str:
    """A throw-away Ed25519 key for the checkpoints (PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()


def observed_notice(today: date) -> dict[str, Any]:
    """A notice whose tasks land in every open status and several ageing buckets today, and
    one the office confirms completed on time."""
    def due(days_ago: int) -> dict[str, str]:
        return {"kind": "date", "due_on": (today - timedelta(days=days_ago)).isoformat()}

    return {
        "number": "88-TB/TU", "kind": "thong_bao_ket_luan", "issuing_body": "BTV",
        "issued_on": (today - timedelta(days=400)).isoformat(),
        "summary": "Kết luận của Thường trực Tỉnh ủy về kiểm tra tiến độ các dự án trọng điểm",
        "signer": "Bí thư Tỉnh ủy",
        "items": [
            {"paragraph": "1", "text": "Hoàn thành giải phóng mặt bằng dự án đường ven biển",
             "lead_unit_id": "UBND", "key_task": True, "domain": "Đất đai", "deadline": due(10)},
            {"paragraph": "2", "text": "Báo cáo kết quả tuyên truyền Nghị quyết Trung ương 4",
             "lead_unit_id": "BTG", "domain": "Tuyên giáo", "deadline": due(100)},
            {"paragraph": "3", "text": "Rà soát quy chế dân chủ ở cơ sở",
             "lead_unit_id": "BDV", "domain": "Dân vận", "deadline": due(300)},
            {"paragraph": "4", "text": "Giám sát thực hiện chính sách an sinh xã hội",
             "lead_unit_id": "MTTQ", "deadline": {"kind": "recurring", "frequency": "quarterly"}},
            {"paragraph": "5", "text": "Xây dựng đề án chuyển đổi số của tỉnh",
             "lead_unit_id": "UBND", "key_task": True, "domain": "Chuyển đổi số",
             "deadline": {"kind": "date", "due_on": (today + timedelta(days=60)).isoformat()}},
            {"paragraph": "6", "text": "Sơ kết công tác tuyên truyền 6 tháng",
             "lead_unit_id": "BTG", "domain": "Tuyên giáo",
             "deadline": {"kind": "date", "due_on": (today + timedelta(days=30)).isoformat()}},
        ],
    }


def feed_traffic(suite: ObservedSuite) -> None:
    """The office's day: units and a notice through the API (one command refused), tasks
    through Kafka, then a poison message and a redelivered event on the tasks' input."""
    for unit in UNITS:
        status, body = suite.call("directives", "POST", "/units", unit)
        assert status == 201, body
    status, body = suite.call("directives", "POST", "/units", UNITS[0])
    assert status == 409 and body["error"]["code"] == "duplicate_unit", body
    status, body = suite.call("directives", "POST", "/directives", observed_notice(suite.today))
    assert status == 201, body

    tasks: list[dict[str, Any]] = []

    def six_tasks() -> bool:
        code, page = suite.call("tasks", "GET", "/tasks?limit=50", role="leader")
        tasks[:] = page["items"] if code == 200 else []
        return len(tasks) == 6

    wait_until(six_tasks, timeout=90, what="six tasks in the tasks service")
    done = next(t for t in tasks if t["item_id"] == "6")  # finished early: completed on time
    status, body = suite.call("tasks", "POST", f"/tasks/{done['task_id']}/completion",
                              {"completed_on": (suite.today - timedelta(days=1)).isoformat(),
                               "result": "Đã tổ chức hội nghị sơ kết"})
    assert status == 200, body
    _open_report_cycles(suite)
    _disturb_tasks_input(suite)


def _open_report_cycles(suite: ObservedSuite) -> None:
    """A quarter whose reports are already late (missing) and one still pending."""
    today = suite.today
    for label, due_on in (("Quý trước", today - timedelta(days=20)),
                          ("Quý này", today + timedelta(days=20))):
        body = {"period": {"kind": "ad_hoc", "label": label,
                           "starts_on": (today - timedelta(days=120)).isoformat(),
                           "ends_on": (today - timedelta(days=30)).isoformat()},
                "data_cutoff_on": (today - timedelta(days=30)).isoformat(),
                "due_on": due_on.isoformat(), "unit_ids": ["UBND", "BTG"]}
        outcome: dict[str, Any] = {}

        def opened(body: dict[str, Any] = body) -> bool:
            outcome["status"], outcome["body"] = suite.call("reports", "POST", "/cycles", body)
            return outcome["status"] == 201

        # the reports service learns the units' tasks from Kafka first
        wait_until(opened, timeout=90, what=f"the report cycle {label}",
                   detail=lambda: str(outcome))


def _disturb_tasks_input(suite: ObservedSuite) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from dondoc_contracts import topic_for

    topic = f"{suite.topic_prefix}{topic_for('directives')}"

    async def disturb() -> None:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=suite.kafka_bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        producer = AIOKafkaProducer(bootstrap_servers=suite.kafka_bootstrap, acks="all")
        await consumer.start()
        await producer.start()
        try:
            first = await asyncio.wait_for(consumer.getone(), 30)
            # the same event again, as a relay republishing after a crash would send it
            await producer.send_and_wait(topic, value=first.value, key=first.key,
                                         headers=list(first.headers))
            await producer.send_and_wait(topic, value=b"{not json", key=b"poison",
                                         headers=[("ce_type", b"vn.dondoc.directive.issued.v1")])
        finally:
            await producer.stop()
            await consumer.stop()

    asyncio.run(disturb())


def run_read_only(engine: Any, sql: str) -> tuple[list[str], list[Any]]:
    """A dashboard's SQL as Grafana's role runs it: read only (pg_read_all_data)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        conn.execute(sa.text("SET TRANSACTION READ ONLY"))
        result = conn.execute(sa.text(sql.replace(":", r"\:")))
        return list(result.keys()), result.all()


def documented_metrics() -> set[str]:
    """The metric names of the table in docs/services/observability.md ("Metrics")."""
    import re

    text = (ROOT / "docs/services/observability.md").read_text(encoding="utf-8")
    table = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    return {name for line in table.splitlines() if line.startswith("| `dondoc_")
            for name in re.findall(r"`(dondoc_\w+)`", line.split(" | ")[0])}


__all__ = ["OBSERVED", "ObservedSuite", "documented_metrics", "feed_traffic", "observed_notice",
           "run_read_only", "start_suite"]
