"""`audit verify` against real stores, the real broker and PostgreSQL: a clean system
verifies; each kind of tampering is caught and named by service, position and kind."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from dondoc_platform.audit_chain import GENESIS, LoggedEvent, link
from dondoc_platform.clock import VN_TZ, ManualClock
from dondoc_platform.outbox import OutboxRelay
from dondoc_platform.stores import StoreURL

from dondoc_analytics.adapters.signing import generate, load_public_keys, verify_signature
from dondoc_analytics.application.audit import Auditor, prove_history
from dondoc_analytics.application.checkpoints import Checkpointer
from dondoc_analytics.bootstrap import Parts, Settings
from dondoc_analytics.domain import merkle
from dondoc_analytics.domain.checkpoint import Checkpoint
from dondoc_analytics.projections import generations as gens
from services.analytics.tests.conftest import following
from tests.backbone import sample_service as svc

pytestmark = pytest.mark.integration


class Audited:
    """A tasks store (the backbone's sample service), relayed to Kafka, checkpointed."""

    def __init__(self, parts: Parts, store_url: str, app: svc.Tracker) -> None:
        self.parts = parts
        self.store_url = store_url
        self.app = app
        self.engine = sa.create_engine(StoreURL.parse(store_url).sqlalchemy_url())
        self.events = "tracker_events"
        self.chain = "tracker_events_chain"

    async def relay(self) -> None:
        topic = self.parts.topics[1]  # dondoc.tasks.v1 under the test's prefix
        relay = OutboxRelay(self.app, service="tasks", translate=svc.translate,
                            bootstrap=self.parts.bootstrap, route=lambda _: topic)
        async with relay:
            while await relay.relay_once():
                pass

    def execute(self, statement: str, **params) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(statement), params)

    def row(self, position: int) -> dict:
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.text(
                f"SELECT * FROM {self.events} WHERE notification_id = :p"), {"p": position}
            ).mappings().one())


@pytest.fixture
async def audited(postgres_database, kafka_bootstrap, prefix, tmp_path: Path) -> Audited:
    import psycopg
    from psycopg import sql

    admin = postgres_database.rpartition("/")[0] + "/postgres"
    store_db = postgres_database + "_store"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("create database {}").format(sql.Identifier(store_db.rpartition("/")[2])))
    key = tmp_path / "checkpoint.key"
    generate(key)
    settings = Settings(store_url=postgres_database, topic_prefix=prefix,
                        audit_tasks_store_url=store_db, audit_signing_key_file=str(key))
    parts = Parts(settings, kafka_bootstrap=kafka_bootstrap,
                  clock=ManualClock(__import__("datetime").datetime(2019, 1, 5, tzinfo=VN_TZ)))
    parts.ensure_schema()
    app = svc.open_app(store_db)
    made = Audited(parts, store_db, app)
    svc.write_events(app, aggregates=6, notes_each=3)
    await made.relay()
    checkpointer = Checkpointer(parts, parts.signer())
    async with following(parts):
        assert len(await checkpointer.make_all()) == 1
        svc.write_events(app, aggregates=4, notes_each=2)  # the log grows: a second checkpoint
        await made.relay()
        assert len(await checkpointer.make_all()) == 1
        assert await parts.projection.wait_caught_up(60)
    yield made
    made.engine.dispose()
    app.close()
    parts.engine.dispose()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(
            sql.Identifier(store_db.rpartition("/")[2])))


async def verify(audited: Audited, **options):
    auditor = Auditor(audited.parts, audited.parts.trusted_keys())
    return await auditor.verify(**options)


def kinds(report) -> set[tuple[str, int | None, str]]:
    return {(f.service, f.position, f.kind) for f in report.findings}


async def test_a_clean_system_verifies(audited: Audited) -> None:
    report = await verify(audited)
    assert report.ok, [str(f) for f in report.findings]
    assert report.checked["events:tasks"] == 36
    assert report.checked["kafka:tasks"] == 36
    assert report.checked["checkpoints:tasks"] == 2
    assert report.checked["rows:events"] == 36


async def test_one_changed_byte_is_named(audited: Audited) -> None:
    state = bytearray(audited.row(7)["state"])
    state[10] ^= 0x01
    audited.execute(f"UPDATE {audited.events} SET state = :s WHERE notification_id = 7", s=bytes(state))
    found = kinds(await verify(audited, projections=False))
    assert ("tasks", 7, "altered") in found
    assert ("tasks", 7, "leaf_differs") in found
    assert any(kind == "root_mismatch" for _, _, kind in found)


async def test_a_deleted_event_is_named(audited: Audited) -> None:
    audited.execute(f"DELETE FROM {audited.events} WHERE notification_id = 12")
    found = kinds(await verify(audited, projections=False))
    assert ("tasks", 12, "missing_event") in found
    assert ("tasks", 12, "leaf_differs") in found
    assert any(kind == "truncated" for _, _, kind in found)


async def test_an_event_deleted_with_its_chain_link_is_named(audited: Audited) -> None:
    audited.execute(f"DELETE FROM {audited.events} WHERE notification_id = 20")
    audited.execute(f"DELETE FROM {audited.chain} WHERE position = 20")
    found = kinds(await verify(audited, projections=False))
    assert ("tasks", 20, "removed") in found
    assert ("tasks", 20, "missing_from_store") in found  # its copy on Kafka is still there
    assert any(kind == "root_mismatch" or kind == "truncated" for _, _, kind in found)


async def test_two_swapped_events_are_named(audited: Audited) -> None:
    a, b = audited.row(4), audited.row(9)
    columns = "originator_id = :o, originator_version = :v, topic = :t, state = :s"
    audited.execute(f"UPDATE {audited.events} SET originator_version = -1 WHERE notification_id = 4")
    audited.execute(f"UPDATE {audited.events} SET {columns} WHERE notification_id = 9",
                    o=a["originator_id"], v=a["originator_version"], t=a["topic"], s=a["state"])
    audited.execute(f"UPDATE {audited.events} SET {columns} WHERE notification_id = 4",
                    o=b["originator_id"], v=b["originator_version"], t=b["topic"], s=b["state"])
    found = kinds(await verify(audited, projections=False))
    assert ("tasks", 4, "reordered") in found and ("tasks", 9, "reordered") in found


async def test_a_row_rewritten_with_its_hashes_is_caught_by_checkpoints_and_kafka(audited: Audited) -> None:
    state = bytearray(audited.row(5)["state"])
    state[-3] ^= 0x20
    audited.execute(f"UPDATE {audited.events} SET state = :s WHERE notification_id = 5", s=bytes(state))
    with audited.engine.begin() as conn:  # an attacker recomputes the whole chain from there
        rows = conn.execute(sa.text(
            f"SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {audited.events} ORDER BY notification_id")).all()
        current = GENESIS
        for r in rows:
            current = link(current, LoggedEvent(r[0], r[1], r[2], r[3], bytes(r[4])).canonical())
            conn.execute(sa.text(f"UPDATE {audited.chain} SET hash = :h WHERE position = :p"),
                         {"h": current, "p": r[0]})
    report = await verify(audited, projections=False)
    found = kinds(report)
    assert not any(kind in ("altered", "reordered", "removed") for _, _, kind in found)
    assert ("tasks", 5, "kafka_copy_differs") in found
    assert ("tasks", 5, "leaf_differs") in found
    assert any(kind == "root_mismatch" for _, _, kind in found)


async def test_a_tampered_read_model_differs_from_its_replay(audited: Audited) -> None:
    tables = gens.tables_of(audited.parts.projection.active())
    with audited.parts.engine.begin() as conn:
        conn.execute(tables.events.update().where(tables.events.c.position == 3)
                     .values(actor_name="Người khác"))
    found = [f for f in (await verify(audited, use_kafka=False)).findings]
    assert [f.kind for f in found] == ["projection_differs"]
    assert "actor_name" in found[0].detail


async def test_a_forged_checkpoint_is_refused(audited: Audited, tmp_path: Path) -> None:
    forger = generate(tmp_path / "forger.key")
    fake = Checkpoint("dondoc", "tasks", 36, merkle.leaf_hash(b"other"), 
                      __import__("datetime").datetime(2019, 1, 1, tzinfo=VN_TZ))
    fake = fake.signed(forger.key_id, forger.sign(fake.statement()))
    folder = tmp_path / "kept"
    folder.mkdir()
    (folder / fake.file_name()).write_text(fake.to_json())
    auditor = Auditor(audited.parts, audited.parts.trusted_keys(), checkpoint_files=[folder])
    found = kinds(await auditor.verify(projections=False))
    assert ("tasks", None, "bad_signature") in found


async def test_a_history_proves_offline(audited: Audited, tmp_path: Path) -> None:
    task_id = str(audited.app.notification_log.select(start=1, limit=1)[0].originator_id)
    document = prove_history(audited.parts, task_id)
    keys = {k: v for k, v in audited.parts.trusted_keys().items()}
    assert document["events"]
    for event in document["events"]:
        stored = event["stored_event"]
        leaf = merkle.leaf_hash(LoggedEvent(stored["position"], stored["originator_id"],
                                            stored["originator_version"], stored["topic"],
                                            base64.b64decode(stored["state_base64"])).canonical())
        checkpoint = Checkpoint.from_document(document["checkpoints"][event["service"]])
        assert verify_signature(keys, checkpoint.key_id, checkpoint.statement(), checkpoint.signature)
        assert merkle.verify_inclusion(leaf, event["leaf_index"], event["tree_size"],
                                       [bytes.fromhex(h) for h in event["inclusion_proof"]],
                                       checkpoint.root)
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(document, default=str))
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(audited.parts.signer().public_document()))
    assert load_public_keys(keys_file).keys() == keys.keys()
    script = Path(__file__).resolve().parents[4] / "docs" / "services" / "analytics_check_proof.py"
    checked = subprocess.run([sys.executable, str(script), str(path), str(keys_file)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "all proven" in checked.stdout
    document["events"][0]["stored_event"]["state_base64"] = base64.b64encode(b"{}").decode()
    path.write_text(json.dumps(document, default=str))
    forged = subprocess.run([sys.executable, str(script), str(path), str(keys_file)],
                            capture_output=True, text=True, timeout=60)
    assert forged.returncode == 1 and "NOT INCLUDED" in forged.stdout


async def test_the_proof_api_gives_the_consistency_proofs_of_the_kept_checkpoints(
        audited: Audited, tmp_path: Path) -> None:
    """GET /v1/audit/tasks/{task}/proof?kept=service:size: what `audit history --prove
    --kept` gives; the offline script checks it against the checkpoint files kept."""
    import httpx

    from dondoc_platform.auth import DevSigner
    from dondoc_platform.settings import AuthSettings

    from dondoc_analytics.application.audit import checkpoints_from_files
    from dondoc_analytics.application.checkpoints import export
    from dondoc_analytics.entrypoints.api import create_api

    kept = tmp_path / "kept"
    with audited.parts.engine.connect() as conn:
        export(conn, kept, audited.parts.signer().public_document())
    sizes = sorted(c.size for c in checkpoints_from_files([kept]))
    task_id = str(audited.app.notification_log.select(start=1, limit=1)[0].originator_id)
    signer = DevSigner(tmp_path / "jwks.json")
    api = create_api(audited.parts, AuthSettings(jwks_file=str(signer.jwks_file)))
    auditor = {"Authorization": f"Bearer {signer.token(subject='kt', roles=['auditor'])}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api),
                                 base_url="http://analytics") as client:
        proven = await client.get(f"/v1/audit/tasks/{task_id}/proof", headers=auditor,
                                  params={"kept": f"tasks:{sizes[0]}"})
        bad = await client.get(f"/v1/audit/tasks/{task_id}/proof", headers=auditor,
                               params={"kept": "tasks"})
    assert proven.status_code == 200, proven.text
    assert set(proven.json()["consistency"]["tasks"]) == {str(sizes[0])}
    path = tmp_path / "proof.json"
    path.write_text(proven.text)
    script = Path(__file__).resolve().parents[4] / "docs" / "services" / "analytics_check_proof.py"
    checked = subprocess.run([sys.executable, str(script), str(path),
                              str(kept / "public-keys.json"), str(kept)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"kept checkpoint tasks size {sizes[0]}: extended by the proof" in checked.stdout
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "kept"


async def test_an_offline_proof_shows_the_log_extends_the_checkpoints_the_auditor_kept(
        audited: Audited, tmp_path: Path) -> None:
    """The procedure an auditor follows with only files: the checkpoints exported earlier
    (kept), a proof made now, the standalone script. A log rewritten and signed again with
    the key (an insider holds it) proves its events under its new root, but does not extend
    the root the auditor kept."""
    from dondoc_analytics.application.audit import checkpoints_from_files
    from dondoc_analytics.application.checkpoints import export

    kept = tmp_path / "kept"
    with audited.parts.engine.connect() as conn:
        export(conn, kept, audited.parts.signer().public_document())
    sizes = sorted(c.size for c in checkpoints_from_files([kept]))
    assert len(sizes) == 2 and sizes[0] < sizes[1]
    task_id = str(audited.app.notification_log.select(start=1, limit=1)[0].originator_id)
    script = Path(__file__).resolve().parents[4] / "docs" / "services" / "analytics_check_proof.py"

    def check(document: dict, *kept_paths: Path) -> subprocess.CompletedProcess:
        path = tmp_path / "proof.json"
        path.write_text(json.dumps(document, default=str))
        return subprocess.run([sys.executable, str(script), str(path), str(kept / "public-keys.json"),
                               *map(str, kept_paths)], capture_output=True, text=True, timeout=60)

    document = prove_history(audited.parts, task_id, checkpoints_from_files([kept]))
    assert set(document["consistency"]["tasks"]) == {str(sizes[0])}
    checked = check(document, kept)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"kept checkpoint tasks size {sizes[0]}: extended by the proof" in checked.stdout

    unlinked = check(prove_history(audited.parts, task_id), kept)  # made without --kept
    assert unlinked.returncode == 1 and "NO CONSISTENCY PROOF" in unlinked.stdout

    # a kept checkpoint whose root is not the root of the log's first N events now: the log
    # was rewritten after the auditor kept it, and every checkpoint since signed again
    genuine = Checkpoint.from_json((kept / f"tasks-{sizes[0]:012d}.checkpoint.json").read_text())
    signer = audited.parts.signer()
    other = Checkpoint(genuine.origin, "tasks", genuine.size, merkle.leaf_hash(b"rewritten"),
                       genuine.time)
    other = other.signed(signer.key_id, signer.sign(other.statement()))
    rewritten = tmp_path / "rewritten-kept"
    rewritten.mkdir()
    (rewritten / other.file_name()).write_text(other.to_json())
    refused = check(prove_history(audited.parts, task_id, [other]), rewritten)
    assert refused.returncode == 1 and "NOT EXTENDED" in refused.stdout


def run_verify(audited: Audited, *args: str, store_url: str | None = None) -> subprocess.CompletedProcess:
    """`dondoc audit verify` as an operator runs it, on the service's settings."""
    settings = audited.parts.settings
    env = {**__import__("os").environ, "DONDOC_STORE_URL": settings.store_url,
           "DONDOC_TOPIC_PREFIX": settings.topic_prefix,
           "DONDOC_KAFKA_BOOTSTRAP": audited.parts.bootstrap,
           "DONDOC_AUDIT_TASKS_STORE_URL": audited.store_url if store_url is None else store_url,
           "DONDOC_AUDIT_SIGNING_KEY_FILE": settings.audit_signing_key_file, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "dondoc.cli", "audit", "verify", *args],
                          env=env, cwd=Path(__file__).resolve().parents[4], capture_output=True,
                          text=True, timeout=300)


async def test_the_verify_command_exits_0_only_when_all_agrees_and_names_the_damage(
        audited: Audited) -> None:
    clean = run_verify(audited)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "verified: everything agrees" in clean.stdout and "checked rows:events: 36" in clean.stdout
    assert "not checked" not in clean.stderr
    unconfigured = run_verify(audited, "--no-projections", store_url="")
    assert "hash chains, Merkle roots and the Kafka copies' hashes not checked" in unconfigured.stderr
    audited.execute(f"DELETE FROM {audited.events} WHERE notification_id = 12")
    damaged = run_verify(audited, "--no-projections")
    assert damaged.returncode == 1, damaged.stdout + damaged.stderr
    assert "DAMAGE tasks: position 12: missing_event" in damaged.stderr
    assert "DAMAGE tasks: position 12: leaf_differs" in damaged.stderr
    as_json = run_verify(audited, "--no-projections", "--json")
    assert as_json.returncode == 1
    found = json.loads(as_json.stdout)
    assert found["ok"] is False
    assert {"service": "tasks", "position": 12, "kind": "missing_event"}.items() <= \
        next(f for f in found["findings"] if f["kind"] == "missing_event").items()
