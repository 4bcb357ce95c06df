"""The command line against a running analytics worker (`dondoc serve analytics --role
worker`), the real broker and PostgreSQL: `--wait` gives read-your-writes, the csv is the
figures of metrics.md by name, xlsx and json carry the same."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from services.analytics.tests import support as s
from services.analytics.tests.integration.test_projection import BDV, BTG, history

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[4]


async def dondoc(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dondoc.cli", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 180)
    return process.returncode, out.decode(), err.decode()


async def test_scorecard_and_history_from_the_command_line(
        postgres_database: str, kafka_bootstrap: str, prefix: str, tmp_path: Path) -> None:
    from dondoc.dev.process import free_port

    # a free port, not 0: 0 is the service's default (8105), which another run may hold
    env = {**os.environ, "DONDOC_STORE_URL": postgres_database, "DONDOC_TOPIC_PREFIX": prefix,
           "DONDOC_KAFKA_BOOTSTRAP": kafka_bootstrap, "DONDOC_HTTP_PORT": str(free_port()),
           "COLUMNS": "200"}
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dondoc.cli", "serve", "analytics", "--role", "worker",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with s.Publisher(kafka_bootstrap, prefix) as publisher:
            await publisher.publish(history())
        code, out, err = await dondoc(env, "scorecard", "--year", "2018", "--format", "csv", "--wait")
        assert code == 0, err
        rows = list(csv.reader(io.StringIO(out)))
        header = rows[0]
        assert header[:4] == ["unit", "assigned", "carried_over", "completed_on_time"]
        assert "on_time_rate_of_due_original" in header and header[-1] == "reports_generic"
        by_name = {r[0]: dict(zip(header, r)) for r in rows[1:]}
        btg = by_name["Ban Tuyên giáo Tỉnh ủy"]
        assert (btg["assigned"], btg["carried_over"], btg["completed_on_time"]) == ("5", "1", "2")
        assert float(btg["on_time_rate_of_due"]) == 0.5
        assert by_name["Ban Dân vận Tỉnh ủy"]["on_time_rate_of_due"] == ""   # undefined: empty

        code, out, err = await dondoc(env, "scorecard", "--year", "2018")  # the table: both rates, both deadlines
        assert code == 0, err
        line = next(ln for ln in out.splitlines() if "Ban Tuyên giáo" in ln)
        assert [c.strip() for c in line.split("│") if "%" in c] == ["50.0%", "40.0%", "25.0%", "20.0%"]
        assert "gốc)" in out  # the rates against the original deadline are labelled so
        assert len(line.split("│")[1:-1]) == 1 + 8 + 4 + 5  # name, counts, rates, reports (pending too)

        code, out, err = await dondoc(env, "scorecard", "--year", "2018", "--by", "domain",
                                      "--format", "csv")
        assert code == 0, err
        by_domain = {r[0]: r for r in csv.reader(io.StringIO(out))}
        assert by_domain["domain"][1:] == [n for n in header[1:] if not n.startswith("reports_")]
        assert by_domain["Tuyên giáo"][1:3] == ["1", "0"]

        xlsx = tmp_path / "2018.xlsx"
        code, _, err = await dondoc(env, "scorecard", "--year", "2018", "--format", "xlsx",
                                    "--output", str(xlsx))
        assert code == 0, err
        sheet = load_workbook(xlsx)["2018"]
        assert [c.value for c in sheet[1]] == header
        names = [sheet.cell(row=r, column=1).value for r in range(3, sheet.max_row + 1)]
        assert "Ban Tuyên giáo Tỉnh ủy" in names

        code, out, err = await dondoc(env, "scorecard", "--year", "2018", "--as-of", "2018-07-31",
                                      "--format", "json", "--unit", BTG)
        assert code == 0, err
        card = json.loads(out)
        assert card["as_of"].startswith("2018-08-01T00:00:00+07:00")
        assert [r["key"] for r in card["rows"]] == [BTG]

        code, out, err = await dondoc(env, "history", "t-adjusted")
        assert code == 0, err
        assert "Điều chỉnh thời hạn" in out and "Đã hoàn thành đúng hạn" in out
        code, out, err = await dondoc(env, "history", "t-adjusted", "--lang", "en")
        assert code == 0, err
        assert "Deadline changed" in out and "Completed on time" in out
        assert "Điều chỉnh" not in out
        code, out, err = await dondoc(env, "history", "t-carry", "--format", "json", "--lang", "en")
        assert code == 0, err
        assert json.loads(out)["state_now"]["days_overdue"] > 120
        code, out, err = await dondoc(env, "history", "t-carry", "--lang", "en")
        assert code == 0, err
        assert "Open, overdue (" in out and " days)" in out and "ngày" not in out

        code, _, err = await dondoc(env, "scorecard", "--year", "2018", "--as-of", "2017-06-01")
        assert code == 2 and "not after the start of 2018" in err
        code, _, _ = await dondoc(env, "history", "no-such-task")
        assert code == 1
        assert BDV in {r[0] for r in rows} or "Ban Dân vận Tỉnh ủy" in by_name
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(worker.communicate(), 60)
        assert worker.returncode == 0, err.decode()[-2000:]


async def test_the_api_process_serves_an_empty_database(postgres_database: str, kafka_bootstrap: str,
                                                       prefix: str, tmp_path: Path) -> None:
    import httpx

    from dondoc.dev.process import free_port
    from dondoc_platform.auth import DevSigner

    jwks = tmp_path / "jwks.json"
    token = DevSigner(jwks).token(subject="leader.1", roles=["leader"])
    port = free_port()
    env = {**os.environ, "DONDOC_STORE_URL": postgres_database, "DONDOC_TOPIC_PREFIX": prefix,
           "DONDOC_KAFKA_BOOTSTRAP": kafka_bootstrap, "DONDOC_HTTP_PORT": str(port),
           "DONDOC_AUTH_JWKS_FILE": str(jwks)}
    api = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dondoc.cli", "serve", "analytics", "--role", "api",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async with asyncio.timeout(60):
                while True:
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass  # not listening yet
                    await asyncio.sleep(0.2)
            response = await client.get("/v1/scorecards/tasks", params={"year": 2018},
                                        headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.json()["rows"] == [] and response.json()["total"]["figures"]["assigned"] == 0
    finally:
        api.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(api.communicate(), 60)
        assert api.returncode == 0, err.decode()[-2000:]
