"""Every public event reads as a sentence in the office's words, Vietnamese and English."""

from __future__ import annotations

import unicodedata

import pytest

from dondoc_analytics.domain.facts import business_day, concerned_tasks
from dondoc_analytics.domain.names import match_key
from dondoc_analytics.domain.wording import describe
from dondoc_contracts import CATALOGUE
from dondoc_contracts import events as ev

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("event_class", CATALOGUE, ids=lambda c: c.__name__)
def test_every_event_has_a_sentence_in_both_languages(event_class) -> None:
    event = event_class.example()
    vi, en = describe(event, {"BTG": "Ban Tuyên giáo Tỉnh ủy"})
    assert vi and en and vi != en
    assert unicodedata.is_normalized("NFC", vi)
    assert business_day(event) is not None


def test_unit_names_replace_ids_and_the_lead_is_named() -> None:
    vi, en = describe(ev.TaskAssigned.example(), {"BTG": "Ban Tuyên giáo Tỉnh ủy", "BDV": "Ban Dân vận"})
    assert "Ban Tuyên giáo Tỉnh ủy chủ trì" in vi and "02/07/2018" in vi
    assert "lead Ban Tuyên giáo Tỉnh ủy" in en and "Ban Dân vận" in en


def test_the_completion_day_is_the_business_day_not_the_confirmation() -> None:
    completed = ev.TaskCompleted.example()
    assert business_day(completed) == completed.completed_on != completed.occurred_at.date()
    assert concerned_tasks(ev.ReportSubmitted.example()) == (completed.task_id,)


def test_review_group_spellings_match() -> None:
    canonical = "Kinh tế - xã hội"
    for typed in ("kinh tế – xã hội", "  KINH TẾ -  XÃ HỘI ", unicodedata.normalize("NFD", canonical)):
        assert match_key(typed) == match_key(canonical)
    assert match_key("Mặt trận, đoàn thể") != match_key(canonical)


def test_notifications_and_requests_are_in_the_offices_words_not_codes() -> None:
    sent = ev.NotificationSent.example()
    sent = sent.model_copy(update={"rule": "deadline_approaching_3"})
    vi, en = describe(sent)
    assert "sắp đến hạn (trước 3 ngày làm việc)" in vi and "deadline_approaching" not in vi
    assert "deadline approaching (3 working days before)" in en
    failed = ev.NotificationFailed.example()
    vi, en = describe(failed)
    assert "nhiệm vụ quá hạn" in vi and "task_overdue" not in vi and "task overdue" in en
    vi, _ = describe(sent.model_copy(update={"rule": "some_new_rule"}))
    assert "some_new_rule" in vi  # a rule this version does not know is shown as it is
    _, en = describe(ev.AdjustmentRequested.example())
    assert "asked for an extension" in en


def test_every_kind_of_event_has_a_name_and_is_rendered_from_its_stored_payload() -> None:
    from dondoc_contracts import CATALOGUE

    from dondoc_analytics.domain.wording import EVENT_NAMES, render

    assert set(EVENT_NAMES) == {c.event_type for c in CATALOGUE}
    for contract in CATALOGUE:
        event = contract.example()
        names = {"BTG": "Ban Tuyên giáo Tỉnh ủy"}
        assert render(event.event_type, event.model_dump_json(), names) == describe(event, names)
        assert render(event.event_type, event.to_json_bytes()) == describe(event)
