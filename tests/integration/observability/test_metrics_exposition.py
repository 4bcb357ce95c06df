"""What each service exposes on /metrics after a day of traffic: the figures the issue
asks for, with bounded labels, in an exposition `promtool check metrics` accepts."""

from __future__ import annotations

import re
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.observed import AUDITED, OBSERVED, ObservedSuite, documented_metrics

pytestmark = pytest.mark.integration


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name]


def has(text: str, name: str, **labels: str) -> bool:
    return any(all(found.get(k) == v for k, v in labels.items()) for found, _ in samples(text, name))


@pytest.mark.parametrize("service", OBSERVED)
def test_promtool_accepts_the_exposition(observed: ObservedSuite, service: str) -> None:
    text = observed.metrics(service)
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                             capture_output=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "dondoc_" in text


def test_commands_are_counted_by_outcome_and_reason(observed: ObservedSuite) -> None:
    text = observed.metrics("directives")
    assert has(text, "dondoc_commands_total", service="directives", command="register_unit",
               outcome="accepted")
    assert has(text, "dondoc_commands_total", service="directives", command="register_unit",
               outcome="rejected", reason="duplicate_unit")
    assert samples(text, "dondoc_command_duration_seconds_count")


def test_the_relay_and_projections_report_their_lag(observed: ObservedSuite) -> None:
    for service in AUDITED:  # the services that publish through an outbox
        text = observed.wait_for_metrics(
            service, lambda t, s=service: has(t, "dondoc_outbox_lag_events", service=s),
            what="relay lag")
        assert [v for _, v in samples(text, "dondoc_outbox_published_events_total")] != [0.0]
    for service, read_model in (("directives", "directives-views"), ("tasks", "tasks-board")):
        observed.wait_for_metrics(
            service, lambda t, m=read_model: has(t, "dondoc_projection_lag_events", consumer=m)
            and has(t, "dondoc_projection_lag_seconds", consumer=m), what="read-model lag")


def test_the_tasks_consumer_reports_lag_dead_letters_and_redeliveries(observed: ObservedSuite) -> None:
    group = f"{observed.topic_prefix}dondoc-tasks"

    def settled(text: str) -> bool:
        lag = [v for labels, v in samples(text, "dondoc_kafka_consumer_lag_messages")
               if labels["group"] == group]
        return (bool(lag) and sum(lag) == 0
                and has(text, "dondoc_dead_letters_total", consumer="dondoc-tasks")
                and has(text, "dondoc_inbox_redeliveries_skipped_total", consumer="dondoc-tasks"))

    text = observed.wait_for_metrics("tasks", settled, what="consumer lag 0, a dead letter, a skip")
    reasons = {labels["reason"] for labels, _ in samples(text, "dondoc_dead_letters_total")}
    assert reasons == {"missing_header"}  # the poison message carries ce_type only
    ages = [v for labels, v in samples(text, "dondoc_kafka_consumer_lag_seconds")
            if labels["group"] == group]
    assert ages and max(ages) == 0
    assert not samples(text, "dondoc_outbox_published_events_created")
    # FastStream's middleware counts the broker traffic of the service's subscriber
    assert has(text, "faststream_received_messages_total", app_name="tasks")


def test_the_office_picture_comes_from_the_task_board(observed: ObservedSuite) -> None:
    def complete(text: str) -> bool:
        return len(samples(text, "dondoc_tasks_overdue_tasks")) == 3

    text = observed.wait_for_metrics("tasks", complete, what="three overdue tasks")
    overdue = {(l["ageing"], l["lead_unit"]): v for l, v in samples(text, "dondoc_tasks_overdue_tasks")}
    assert overdue == {("1-30", "UBND"): 1, ("91-120", "BTG"): 1, ("over-120", "BDV"): 1}
    open_tasks = {}
    for labels, value in samples(text, "dondoc_tasks_open_tasks"):
        open_tasks[labels["status"]] = open_tasks.get(labels["status"], 0) + value
    assert open_tasks == {"open_overdue": 3, "open_in_time": 1, "open_no_deadline": 1}
    groups = {l["review_group"] for l, _ in samples(text, "dondoc_tasks_open_tasks")}
    assert "Kinh tế - xã hội" in groups
    keys = {l["status"]: v for l, v in samples(text, "dondoc_tasks_open_key_tasks")}
    assert keys == {"open_overdue": 1, "open_in_time": 1}
    # never a task id in a label
    assert not re.search(r'task_id="', text)


def test_the_reports_awaited_come_from_the_reports_view(observed: ObservedSuite) -> None:
    def complete(text: str) -> bool:
        return len(samples(text, "dondoc_reports_awaited_reports")) == 4

    text = observed.wait_for_metrics("reports", complete, what="four awaited reports")
    awaited = {(l["state"], l["unit"]): v for l, v in samples(text, "dondoc_reports_awaited_reports")}
    assert awaited == {("missing", "UBND"): 1, ("missing", "BTG"): 1,
                       ("pending", "UBND"): 1, ("pending", "BTG"): 1}
    assert has(text, "dondoc_kafka_consumer_lag_messages")
    assert has(text, "faststream_received_messages_total", app_name="reports")


def test_notifications_are_counted_by_channel(observed: ObservedSuite) -> None:
    text = observed.wait_for_metrics(
        "notifications", lambda t: has(t, "dondoc_notifications_sent_total", channel="email"),
        what="an e-mail sent")
    assert observed.mailbox.received
    assert has(text, "dondoc_kafka_consumer_lag_messages")
    assert has(text, "faststream_received_messages_total", app_name="notifications")


def test_analytics_reports_its_lag_checkpoints_and_verification(observed: ObservedSuite) -> None:
    group = f"{observed.topic_prefix}dondoc-analytics"

    def settled(text: str) -> bool:
        lag = [v for labels, v in samples(text, "dondoc_kafka_consumer_lag_messages")
               if labels["group"] == group]
        checkpointed = {l["audited_service"] for l, _ in
                        samples(text, "dondoc_audit_last_checkpoint_size_events")}
        verified = {l["audited_service"]: v for l, v in
                    samples(text, "dondoc_audit_last_verify_success")}
        return (len(lag) == len(AUDITED) and sum(lag) == 0 and checkpointed == set(AUDITED)
                and verified == {**dict.fromkeys(AUDITED, 1.0), "analytics": 1.0})

    text = observed.wait_for_metrics("analytics", settled,
                                     what="analytics caught up, every log checkpointed, verified")
    sizes = {l["audited_service"]: v for l, v in
             samples(text, "dondoc_audit_last_checkpoint_size_events")}
    assert all(size > 0 for size in sizes.values())
    assert {v for _, v in samples(text, "dondoc_audit_last_verify_problems")} == {0.0}


def test_every_metric_a_service_exposes_is_documented(observed: ObservedSuite) -> None:
    exposed = {line.split()[2] for service in OBSERVED
               for line in observed.metrics(service).splitlines()
               if line.startswith("# TYPE dondoc_")}
    assert len(exposed) >= 30
    assert exposed <= documented_metrics(), sorted(exposed - documented_metrics())
