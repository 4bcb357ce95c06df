"""What `dondoc demo` does with the stack's directory it finds: a clean slate, a reuse or a
resume, and the sentence that says so; and the annual review report laid out from a review
document (Markdown in Vietnamese and English, xlsx, JSON), counting nothing itself."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from dondoc import review_report
from dondoc.demo import Loaded, plan_start

pytestmark = pytest.mark.unit

TODAY = date(2026, 11, 28)


def test_a_first_run_starts_from_a_clean_slate(tmp_path: Path) -> None:
    how, sentence = plan_start(tmp_path, 2018, TODAY, fresh=False)
    assert how == "fresh" and "first run" in sentence


def test_data_loaded_for_the_same_seed_and_date_is_reused_unless_fresh(tmp_path: Path) -> None:
    Loaded(2018, TODAY.isoformat(), complete=True).write(tmp_path / "demo" / "loaded.json")
    assert plan_start(tmp_path, 2018, TODAY, fresh=False)[0] == "reuse"
    how, sentence = plan_start(tmp_path, 2018, TODAY, fresh=True)
    assert how == "fresh" and "--fresh" in sentence


def test_data_of_another_day_or_seed_starts_again_and_an_unfinished_load_resumes(tmp_path: Path) -> None:
    marker = tmp_path / "demo" / "loaded.json"
    Loaded(2018, "2026-11-27", complete=True).write(marker)
    how, sentence = plan_start(tmp_path, 2018, TODAY, fresh=False)
    assert how == "fresh" and "2026-11-27" in sentence
    Loaded(7, TODAY.isoformat(), complete=True).write(marker)
    assert plan_start(tmp_path, 2018, TODAY, fresh=False)[0] == "fresh"
    Loaded(2018, TODAY.isoformat(), complete=False).write(marker)
    assert plan_start(tmp_path, 2018, TODAY, fresh=False)[0] == "resume"


def test_data_of_unknown_origin_is_not_trusted(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    how, sentence = plan_start(tmp_path, 2018, TODAY, fresh=False)
    assert how == "fresh" and "unknown origin" in sentence


def _figures(**given: float | int | None) -> dict:
    names = [*review_report.RESULT_FIGURES, *review_report.REPORT_FIGURES, *review_report.DOMAIN_FIGURES]
    return {**dict.fromkeys(names, 0), "on_time_rate_of_due": None, "on_time_rate_of_all": None, **given}


def review() -> dict:
    group = "Kinh tế - xã hội"
    unit = {"key": "BTG", "name": "Ban Tuyên giáo Tỉnh ủy", "restated": None,
            "figures": _figures(assigned=4, completed_on_time=3, open_overdue=1, on_time_rate_of_due=0.75,
                                on_time_rate_of_all=0.75, on_time_rate_of_all_original=None, reports_due=1, reports_on_time=1, reports_specific=1)}
    task = {"directive_number": "11-KL/TU", "assigned_on": "2018-02-01", "content": "Thu hồi đất Khu kinh tế Đông Nam",
            "lead_unit": "Ban Quản lý Khu kinh tế tỉnh", "domain": "Đất đai", "due_on": "2018-10-01",
            "original_due_on": "2018-10-01", "status": "open_overdue", "days_overdue": 92, "terminal_on": None,
            "adjustment_requests": 0, "deadline_adjustments": 0}
    names = [*review_report.RESULT_FIGURES, *review_report.REPORT_FIGURES, *review_report.CARRY_FIGURES,
             "documents", "reported_well", "reported_late_or_missing", "key_tasks"]
    return {
        "year": 2018, "as_of": "2019-01-01T00:00:00+07:00", "generated_at": "2026-11-28T18:00:00+07:00",
        "frozen": None, "restatement": None,
        "documents": {"rows": [{"review_group_key": "kinh tế - xã hội", "review_group": group, "kind": "ket_luan",
                                "kind_vi": "Kết luận", "kind_en": "Conclusion", "documents": 1}], "total": 1},
        "by_review_group": {"rows": [{**unit, "key": "kinh tế - xã hội", "name": group}], "total": unit["figures"]},
        "by_unit": {"rows": [unit], "total": unit["figures"]},
        "by_domain": {"rows": [{**unit, "key": "Đất đai", "name": "Đất đai"}], "total": unit["figures"]},
        "reported_well": [unit], "reported_late_or_missing": [], "key_tasks": [task],
        "carry_over": {"by_origin_year": [{"origin_year": 2016, **dict.fromkeys(review_report.CARRY_FIGURES, 1)}],
                       "total": dict.fromkeys(review_report.CARRY_FIGURES, 1), "open_tasks": [task]},
        "definitions": {n: {"vi": f"định nghĩa {n}", "en": f"definition of {n}"} for n in names},
        "labels": {n: {"vi": f"nhãn {n}", "en": f"label {n}"} for n in names},
    }


def test_the_report_lays_out_the_figures_it_is_given(tmp_path: Path) -> None:
    written = review_report.write(review(), tmp_path, ["md", "xlsx", "json", "md"])
    assert [p.name for p in written] == ["bao-cao-ra-soat-2018.md", "bao-cao-ra-soat-2018.xlsx",
                                         "bao-cao-ra-soat-2018.json"]
    text = written[0].read_text(encoding="utf-8")
    assert "Tổ rà soát đã rà soát 1 văn bản: 1 kết luận (Kinh tế - xã hội)." in text
    assert "Số liệu tính đến 24:00 ngày 31/12/2018" in text
    assert "| nhãn on_time_rate_of_due | 75,0% |" in text and "| nhãn on_time_rate_of_all_original | — |" in text
    assert "Ban Tuyên giáo Tỉnh ủy." in text  # reported well
    assert "| 11-KL/TU (2018) | Thu hồi đất Khu kinh tế Đông Nam |" in text
    assert "- **nhãn reports_generic** (`reports_generic`): định nghĩa reports_generic" in text
    book = load_workbook(written[1])
    assert book.sheetnames == ["Thông tin", "Văn bản", "Kết quả", "Báo cáo", "Lĩnh vực", "Trọng điểm",
                               "Tồn đọng", "Chuyển tiếp", "Đơn vị", "Định nghĩa"]
    assert book["Trọng điểm"]["C3"].value == "Thu hồi đất Khu kinh tế Đông Nam"
    assert book["Trọng điểm"]["B3"].value == datetime(2018, 2, 1)  # a date cell, not text
    assert book["Trọng điểm"]["F3"].number_format == "DD/MM/YYYY" and book["Trọng điểm"]["J3"].value is None
    assert "24:00 ngày 31/12/2018" in book["Thông tin"]["A2"].value
    assert json.loads(written[2].read_text(encoding="utf-8"))["documents"]["total"] == 1
    english = review_report.markdown(review(), "en")
    assert "Figures as of 2019-01-01T00:00+07:00" in english and "label documents" in english
    assert "| label on_time_rate_of_due | 75.0% |" in english


def test_every_figure_of_the_annual_review_has_its_own_definition_and_label() -> None:
    """The report prints each figure with its name and definition; a figure the analytics
    wording does not know would come out as its bare key."""
    from dondoc_analytics.domain.wording import figure_definition, figure_label

    names = {*review_report.RESULT_FIGURES, *review_report.UNIT_FIGURES, *review_report.REPORT_FIGURES,
             *review_report.DOMAIN_FIGURES, *review_report.CARRY_FIGURES,
             "documents", "reported_well", "reported_late_or_missing", "key_tasks"}
    for name in sorted(names):
        for vi, en in (figure_definition(name), figure_label(name)):
            assert name not in (vi, en), name
            assert vi != en, name


def test_the_review_groups_come_in_the_source_texts_order_in_every_format(tmp_path: Path) -> None:
    document = review()
    groups = ["Mặt trận, đoàn thể", "Kinh tế - xã hội", "Xây dựng Đảng, hệ thống chính trị, nội chính"]
    document["by_review_group"]["rows"] = [
        {"key": name.lower(), "name": name, "restated": None, "figures": _figures(assigned=n)}
        for n, name in enumerate(groups, start=1)]
    written = review_report.write(document, tmp_path, ["md", "xlsx"])
    text = written[0].read_text(encoding="utf-8")
    expected = [groups[1], groups[2], groups[0]]
    assert sorted(expected, key=text.index) == expected
    sheet = load_workbook(written[1])["Kết quả"]
    assert [sheet.cell(row=r, column=1).value for r in range(3, 6)] == expected
    assert [sheet.cell(row=r, column=2).value for r in range(3, 6)] == [2, 3, 1]


def test_the_commands_the_demo_prints_name_the_dondoc_that_runs(tmp_path: Path) -> None:
    from dondoc.demo import runnable_command

    script = tmp_path / ".venv" / "bin" / "dondoc"
    assert runnable_command(script, tmp_path) == ".venv/bin/dondoc"  # after `make demo`
    other = tmp_path / "elsewhere"
    other.mkdir()
    assert runnable_command(script, other) == str(script)
