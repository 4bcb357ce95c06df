"""SIGKILL the notifications service mid-batch and restart it: no mail lost, none sent twice,
as the real SMTP server's received log shows. The service runs as `dondoc serve notifications`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from dondoc.dev.process import free_port
from dondoc_platform.auth import DevSigner

from dondoc_notifications.adapters.tables import notifications

from . import facts as f
from .support import SmtpServer, Upstream, sql_url, until

pytestmark = pytest.mark.e2e

TASKS = 60


def _start(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dondoc.cli", "serve", "notifications"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _sent_rows(engine: sa.Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(notifications)).mappings()]


async def test_a_killed_service_loses_no_mail_and_sends_none_twice(
        kafka_bootstrap, postgres_database, tmp_path) -> None:
    smtp = SmtpServer(free_port(), delay=0.02).start()
    prefix = f"kill{os.getpid()}{free_port()}."
    port = free_port()
    signer = DevSigner(tmp_path / "jwks.json")
    signer.ensure_key()
    env = dict(os.environ, DONDOC_STORE_URL=postgres_database, DONDOC_TOPIC_PREFIX=prefix,
               DONDOC_KAFKA_BOOTSTRAP=kafka_bootstrap, DONDOC_SMTP_HOST="127.0.0.1",
               DONDOC_SMTP_PORT=str(smtp.port), DONDOC_CLOCK="manual",
               DONDOC_CLOCK_START=f.at(date(2018, 6, 20), 8, 30).isoformat(),
               DONDOC_HTTP_PORT=str(port), DONDOC_AUTH_JWKS_FILE=str(tmp_path / "jwks.json"),
               DONDOC_LEASE_SECONDS="2", DONDOC_DELIVERY_BATCH="20", DONDOC_MAIL_FROM="dondoc@tinhuy.example.vn")
    log = tmp_path / "service.log"
    engine = sa.create_engine(sql_url(postgres_database))
    process = _start(env, log)
    try:
        async with Upstream(kafka_bootstrap, prefix) as up:
            await up.send(*[f.unit(f"U{i:02d}", f"Đơn vị số {i}", emails=(f"u{i:02d}@tinhuy.example.vn",))
                            for i in range(TASKS)])
            await up.send(*[f.task(f"t-{i:02d}", date(2018, 6, 29), lead=f"U{i:02d}") for i in range(TASKS)])
        for kill_after in (8, 30):
            await until(lambda: smtp.count() >= kill_after, timeout=120,
                        what=f"{kill_after} mails received before the kill ({log.read_text()[-2000:]})")
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            assert smtp.count() < TASKS, "the kill must land mid-batch"
            process = _start(env, log)
        await until(lambda: sum(r["state"] == "sent" for r in _sent_rows(engine)) == TASKS, timeout=180,
                    what=f"all {TASKS} notices recorded as sent ({log.read_text()[-2000:]})")
        token = signer.token(subject="kiemtra", roles=["auditor"])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            await until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200, timeout=60,
                        what="the restarted API")
            page = (await client.get("/tasks/t-07/notifications")).json()
        listed = subprocess.run(
            [sys.executable, "-m", "dondoc.cli", "notifications", "list", "--unit", "U07", "--json",
             "--url", f"http://127.0.0.1:{port}", "--token", token],
            capture_output=True, text=True, timeout=60, check=True)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        smtp.stop()

    received = smtp.messages()
    ids = Counter(m.message_id for m in received)
    assert [mid for mid, n in ids.items() if n > 1] == [], "a mail was sent twice"
    recorded = _sent_rows(engine)
    lost = [(r["address"], r["reconciled"], r["attempts"]) for r in recorded
            if r["message_id"] not in ids]
    assert lost == [], f"lost (address, reconciled, attempts): {lost}; log: {log.read_text()[-3000:]}"
    assert sorted(m.recipients[0] for m in received) == sorted(f"u{i:02d}@tinhuy.example.vn"
                                                               for i in range(TASKS))
    assert sorted(r["message_id"] for r in recorded) == sorted(ids)
    print(f"[crash] {len(received)} mails, {sum(r['reconciled'] for r in recorded)} recorded as sent "
          f"from their hand-over mark after a kill")
    assert [item["address"] for item in page["items"]] == ["u07@tinhuy.example.vn"]
    assert page["items"][0]["state"] == "sent"
    assert [n["task_id"] for n in json.loads(listed.stdout)["items"]] == ["t-07"]
    engine.dispose()
