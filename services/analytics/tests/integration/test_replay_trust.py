"""What the rebuild's trust in relayed records costs (docs/adr/0013), on the real broker and
PostgreSQL: a Kafka copy of an event changed after its relay serialised it, its headers (the
audit hash among them) kept, is stored by a rebuild as it is; `audit verify` names it, before
the rebuild and after the rebuild's generation became the live one. A clean system verifies
(`test_audit.py::test_a_clean_system_verifies`) and its rebuild equals live
(`test_rebuild_equals_live.py`, every record trusted)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dondoc_platform import outbox

from dondoc_analytics.projections import generations as gens
from services.analytics.tests.conftest import following
from services.analytics.tests.integration import test_audit
from services.analytics.tests.integration.test_audit import Audited, kinds, verify
from tests.backbone import sample_service as svc

pytestmark = pytest.mark.integration

audited = test_audit.audited  # the fixture: a tasks store relayed to Kafka, checkpointed

TAMPERED = 37  # the position of the event written after the fixture's 36

#: how the copy on Kafka is changed: an identifier the contract refuses (the live consumer
#: dead-letters it), or the same event spelled otherwise (the live consumer stores the
#: contract's bytes)
CHANGES = {
    "refused": lambda value: value.replace(b'"unit_id":"BTG"', b'"unit_id":"B G"'),
    "respelled": lambda value: value.replace(b'","', b'", "'),
}


@pytest.mark.parametrize("change", list(CHANGES))
async def test_a_kafka_copy_changed_with_its_audit_hash_kept_is_named_before_and_after_a_rebuild(
        audited: Audited, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    changed: list[bytes] = []

    def encode(contract, envelope):  # between the relay and the broker
        key, value, headers = real_encode(contract, envelope)
        if envelope.sequence == TAMPERED:
            value = CHANGES[change](value)
            changed.append(value)
        return key, value, headers

    real_encode = outbox.encode
    monkeypatch.setattr(outbox, "encode", encode)
    svc.write_events(audited.app, aggregates=1, notes_each=0)
    await audited.relay()
    assert len(changed) == 1
    parts = audited.parts
    async with following(parts):  # the live consumer sees the changed copy
        assert await parts.projection.wait_caught_up(60)

    before = await verify(audited)
    found = kinds(before)
    assert ("tasks", TAMPERED, "kafka_copy_invalid") in found
    # the replay trusted what the live consumer refused or respelled
    assert {kind for _, _, kind in found} == {"kafka_copy_invalid", "projection_differs"}

    report = await parts.projection.rebuild()
    assert report.undecodable == 0 and report.trusted == report.compiled == TAMPERED
    tables = gens.tables_of(parts.projection.active())
    with parts.engine.connect() as conn:
        stored = conn.execute(sa.select(tables.events.c.payload)
                              .where(tables.events.c.position == TAMPERED)).scalar_one()
    assert stored == changed[0].decode()  # the cost: the rebuild did not refuse it

    after = await verify(audited)  # the rebuilt generation is the live one now
    assert kinds(after) == {("tasks", TAMPERED, "kafka_copy_invalid")}
    assert "tasks" in after.findings[0].detail and "@" in after.findings[0].detail
