"""The annual review report (báo cáo rà soát việc thực hiện các Kết luận, Thông báo kết luận):
the shape of the 2018 review the office wrote by hand, every figure from the analytics read
models (`GET /v1/reviews/{year}` or `Reading.annual_review`), each with its definition and the
as-of moment. This module only lays the figures out (Markdown, xlsx, JSON): it counts nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

FORMATS = ("md", "xlsx", "json")

TEXT = {
    "title": ("Báo cáo rà soát việc thực hiện các Kết luận, Thông báo kết luận của Ban Thường vụ, "
              "Thường trực Tỉnh ủy năm {year}",
              "Review of the implementation of the Standing Committee's conclusions and notices, {year}"),
    "as_of": ("Số liệu tính đến {moment} (giờ Việt Nam); lập lúc {generated}; nguồn: các bảng số "
              "liệu tổng hợp của dondoc (analytics).",
              "Figures as of {moment} (Vietnam time); produced {generated}; source: dondoc's "
              "analytics read models."),
    "frozen": ("Số liệu năm {year} đã khóa lúc {closed} (mã băm {digest}).",
               "The figures of {year} were frozen at {closed} (digest {digest})."),
    "restated": ("Có sự kiện ghi nhận sau khi khóa số liệu: xem cột “điều chỉnh” trong tệp xlsx/json.",
                 "Events recorded after the close change some figures: see “restated” in the xlsx/json."),
    "s1": ("1. Khối lượng rà soát", "1. Volume reviewed"),
    "s1_sentence": ("Tổ rà soát đã rà soát {total} văn bản: {parts}.",
                    "The review team reviewed {total} documents: {parts}."),
    "s2": ("2. Kết quả thực hiện nhiệm vụ", "2. Results of the tasks"),
    "s2_groups": ("Theo nhóm rà soát", "By review group"),
    "s3": ("3. Chế độ báo cáo tự rà soát của các đơn vị", "3. The units' self-review reports"),
    "s3_well": ("Đơn vị báo cáo cụ thể, gửi đúng thời gian", "Units that reported specifically and on time"),
    "s3_late": ("Đơn vị gửi báo cáo chậm hoặc chưa gửi", "Units late or missing"),
    "s3_quality": ("Chất lượng báo cáo (đánh giá của Tổ rà soát)", "Quality of the reports (the review team's judgement)"),
    "s4": ("4. Nhiệm vụ quá hạn, hoàn thành chậm theo lĩnh vực", "4. Overdue and late tasks by domain"),
    "s4_key": ("Nhiệm vụ, dự án trọng điểm quá hạn hoặc hoàn thành chậm",
               "Key tasks and projects overdue or completed late"),
    "s5": ("5. Nhiệm vụ tồn đọng từ các năm trước", "5. Tasks carried over from earlier years"),
    "s5_open": ("Nhiệm vụ chuyển tiếp còn chưa hoàn thành", "Carried-over tasks still open"),
    "s6": ("6. Kết quả theo đơn vị chủ trì", "6. Results by lead unit"),
    "definitions": ("Định nghĩa số liệu", "Definitions"),
    "definitions_note": ("Mọi số liệu tính tại thời điểm ghi ở đầu báo cáo; tỷ lệ ghi rõ mẫu số; "
                         "một tỷ lệ có mẫu số bằng 0 để trống.",
                         "Every figure is as of the moment above; each rate names its denominator; "
                         "a rate with a zero denominator is left empty."),
    "none": ("(không có)", "(none)"),
    "total": ("Tổng cộng", "Total"),
    "review_group": ("Nhóm rà soát", "Review group"),
    "unit": ("Đơn vị", "Unit"),
    "domain": ("Lĩnh vực", "Domain"),
    "origin_year": ("Năm giao", "Year assigned"),
    "number": ("Số hiệu", "Number"),
    "kind": ("Loại văn bản", "Kind of document"),
    "content": ("Nội dung nhiệm vụ", "Task"),
    "assigned_on": ("Ngày giao", "Assigned on"),
    "lead": ("Đơn vị chủ trì", "Lead unit"),
    "due": ("Thời hạn", "Deadline"),
    "original_due": ("Hạn ban đầu", "Original deadline"),
    "status": ("Tình trạng", "Status"),
    "days_overdue": ("Số ngày quá hạn", "Days overdue"),
    "completed_on": ("Ngày hoàn thành", "Completed on"),
    "requests": ("Đề nghị điều chỉnh", "Adjustment requests"),
    "adjustments": ("Lần điều chỉnh hạn", "Deadline adjustments"),
    "figure": ("Chỉ tiêu", "Figure"),
    "value": ("Số liệu", "Value"),
    "about": ("Thông tin", "About"),
}

#: the xlsx sheets' names (Excel allows 31 characters)
SHEETS = {
    "about": ("Thông tin", "About"), "documents": ("Văn bản", "Documents"),
    "results": ("Kết quả", "Results"), "reports": ("Báo cáo", "Reports"),
    "domains": ("Lĩnh vực", "Domains"), "key_tasks": ("Trọng điểm", "Key tasks"),
    "carry_over": ("Chuyển tiếp", "Carried over"), "carried_open": ("Tồn đọng", "Still open"),
    "units": ("Đơn vị", "Units"), "definitions": ("Định nghĩa", "Definitions"),
}

STATUS = {
    "completed_on_time": ("Đã hoàn thành đúng hạn", "Completed on time"),
    "completed_late": ("Đã hoàn thành quá hạn", "Completed late"),
    "open_in_time": ("Chưa hoàn thành, còn trong hạn", "Open, within its deadline"),
    "open_overdue": ("Chưa hoàn thành, quá hạn", "Open, overdue"),
    "open_no_deadline": ("Không có thời hạn / thường xuyên", "No deadline"),
    "withdrawn": ("Đã rút", "Withdrawn"),
}

RESULT_FIGURES = ("assigned", "carried_over", "completed_on_time", "completed_late", "open_in_time",
                  "open_overdue", "open_no_deadline", "withdrawn", "on_time_rate_of_due",
                  "on_time_rate_of_all", "on_time_rate_of_due_original", "on_time_rate_of_all_original",
                  "overdue_1_30", "overdue_31_90", "overdue_91_120", "overdue_over_120")
UNIT_FIGURES = ("assigned", "carried_over", "completed_on_time", "completed_late", "open_in_time",
                "open_overdue", "open_no_deadline", "withdrawn", "on_time_rate_of_due", "on_time_rate_of_all")
REPORT_FIGURES = ("reports_due", "reports_on_time", "reports_late", "reports_missing",
                  "reports_pending", "reports_specific", "reports_generic", "reports_accepted",
                  "reports_returned")
DOMAIN_FIGURES = ("assigned", "carried_over", "open_overdue", "completed_late", "overdue_1_30",
                  "overdue_31_90", "overdue_91_120", "overdue_over_120", "on_time_rate_of_due")
#: the task sheets' days (ISO text in the review document), written as date cells
DAY_COLUMNS = ("assigned_on", "due_on", "original_due_on", "terminal_on")
CARRY_FIGURES = ("carried_over", "completed_on_time", "completed_late", "withdrawn", "carried_open",
                 "adjustment_requested", "deadline_adjusted", "never_adjusted")


def as_document(review: dict[str, Any]) -> dict[str, Any]:
    """The review as JSON gives it (what the API returns): dates and moments as ISO text."""
    def default(value: Any) -> str:
        if isinstance(value, date | datetime):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    return json.loads(json.dumps(review, default=default, ensure_ascii=False))


class _Words:
    def __init__(self, review: dict[str, Any], lang: str) -> None:
        self.review = review
        self.i = 0 if lang == "vi" else 1
        self.lang = lang

    def t(self, key: str, **values: Any) -> str:
        return TEXT[key][self.i].format(**values)

    def sheet(self, key: str) -> str:
        return SHEETS[key][self.i]

    def label(self, figure: str) -> str:
        return self.review["labels"].get(figure, {}).get(self.lang, figure)

    def definition(self, figure: str) -> str:
        return self.review["definitions"].get(figure, {}).get(self.lang, figure)

    def status(self, name: str) -> str:
        return STATUS.get(name, (name, name))[self.i]

    def kind(self, row: dict[str, Any]) -> str:
        return row["kind_vi"] if self.i == 0 else row["kind_en"]

    def moment(self, text: str | None) -> str:
        if not text:
            return ""
        moment = datetime.fromisoformat(text)
        if self.i == 0:
            if moment.time() == datetime.min.time():
                return f"24:00 ngày {date.fromordinal(moment.date().toordinal() - 1):%d/%m/%Y}"
            return f"{moment:%H:%M} ngày {moment:%d/%m/%Y}"
        return moment.isoformat(timespec="minutes")

    def day(self, text: str | None) -> str:
        if not text:
            return ""
        day = date.fromisoformat(text)
        return f"{day:%d/%m/%Y}" if self.i == 0 else day.isoformat()


def value(figures: dict[str, Any], name: str, lang: str = "vi") -> str:
    """A figure as printed: a rate as a percentage (a decimal comma in Vietnamese), an empty
    rate as a dash."""
    found = figures.get(name)
    if found is None:
        return "—" if "rate" in name else "0"
    if "rate" in name:
        text = f"{found:.1%}"
        return text.replace(".", ",") if lang == "vi" else text
    return str(found)


# --------------------------------------------------------------------------- Markdown


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return lines


def _group_rows(review: dict[str, Any]) -> list[tuple[str, str, list[dict[str, Any]], dict[str, Any]]]:
    """(key, name, document rows, task figures) per review group, in the source text's order."""
    documents: dict[str, list[dict[str, Any]]] = {}
    names: dict[str, str] = {}
    for row in review["documents"]["rows"]:
        documents.setdefault(row["review_group_key"], []).append(row)
        names[row["review_group_key"]] = row["review_group"]
    figures = {}
    for row in review["by_review_group"]["rows"]:
        figures[row["key"]] = row["figures"]
        names.setdefault(row["key"], row["name"])
    order = ["kinh tế - xã hội", "xây dựng đảng, hệ thống chính trị, nội chính", "mặt trận, đoàn thể"]
    keys = sorted(names, key=lambda k: (order.index(k) if k in order else len(order), k))
    return [(k, names[k], documents.get(k, []), figures.get(k, {})) for k in keys]


def markdown(review: dict[str, Any], lang: str = "vi") -> str:
    w = _Words(review, lang)
    year = review["year"]
    out = [f"# {w.t('title', year=year)}", "",
           f"_{w.t('as_of', moment=w.moment(review['as_of']), generated=w.moment(review['generated_at']))}_", ""]
    if review.get("frozen"):
        frozen = review["frozen"]
        out += [f"_{w.t('frozen', year=year, closed=w.moment(frozen['closed_at']), digest=frozen['digest'][:16])}_", ""]
        if review.get("restatement"):
            out += [f"_{w.t('restated')}_", ""]
    used: list[str] = ["documents"]

    # 1. volume
    groups = _group_rows(review)
    out += [f"## {w.t('s1')}", ""]
    parts = []
    for _, name, documents, _ in groups:
        if documents:
            kinds = ", ".join(f"{d['documents']} {w.kind(d).lower()}" for d in documents)
            parts.append(f"{kinds} ({name})")
    out += [w.t("s1_sentence", total=review["documents"]["total"], parts="; ".join(parts) or w.t("none")), ""]
    out += _table([w.t("review_group"), w.label("documents"), w.label("assigned"), w.label("carried_over")],
                  [[name, str(sum(d["documents"] for d in documents)), value(figures, "assigned", lang),
                    value(figures, "carried_over", lang)] for _, name, documents, figures in groups]
                  + [[w.t("total"), str(review["documents"]["total"]),
                      value(review["by_review_group"]["total"], "assigned", lang),
                      value(review["by_review_group"]["total"], "carried_over", lang)]])
    out.append("")

    # 2. results by status
    total = review["by_unit"]["total"]
    out += [f"## {w.t('s2')}", ""]
    out += _table([w.t("figure"), w.t("value")], [[w.label(n), value(total, n, lang)] for n in RESULT_FIGURES])
    used += RESULT_FIGURES
    out += ["", f"### {w.t('s2_groups')}", ""]
    out += _table([w.t("review_group"), *[w.label(n) for n in UNIT_FIGURES]],
                  [[name, *[value(figures, n, lang) for n in UNIT_FIGURES]] for _, name, _, figures in groups])
    out.append("")

    # 3. reports
    out += [f"## {w.t('s3')}", "", f"**{w.t('s3_well')}** ({w.definition('reported_well')}):", ""]
    well = review["reported_well"]
    out += [", ".join(u["name"] for u in well) + "." if well else w.t("none"), ""]
    out += [f"**{w.t('s3_late')}** ({w.definition('reported_late_or_missing')}):", ""]
    late = review["reported_late_or_missing"]
    if late:
        out += _table([w.t("unit"), w.label("reports_due"), w.label("reports_late"), w.label("reports_missing")],
                      [[u["name"], value(u["figures"], "reports_due"), value(u["figures"], "reports_late"),
                        value(u["figures"], "reports_missing")] for u in late])
    else:
        out.append(w.t("none"))
    out += ["", f"**{w.t('s3_quality')}**", ""]
    out += _table([w.t("unit"), *[w.label(n) for n in REPORT_FIGURES]],
                  [[u["name"], *[value(u["figures"], n, lang) for n in REPORT_FIGURES]]
                   for u in review["by_unit"]["rows"] if u["figures"].get("reports_due")]
                  + [[w.t("total"), *[value(total, n, lang) for n in REPORT_FIGURES]]])
    used += [*REPORT_FIGURES, "reported_well", "reported_late_or_missing"]
    out.append("")

    # 4. by domain, key tasks
    out += [f"## {w.t('s4')}", ""]
    out += _table([w.t("domain"), *[w.label(n) for n in DOMAIN_FIGURES]],
                  [[r["name"], *[value(r["figures"], n, lang) for n in DOMAIN_FIGURES]]
                   for r in review["by_domain"]["rows"]])
    out += ["", f"### {w.t('s4_key')}", "", f"_{w.definition('key_tasks')}_", ""]
    out += _tasks(w, review["key_tasks"], completed=True)
    used += ["key_tasks", *DOMAIN_FIGURES]

    # 5. carry-over
    carry = review["carry_over"]
    out += ["", f"## {w.t('s5')}", ""]
    out += _table([w.t("origin_year"), *[w.label(n) for n in CARRY_FIGURES]],
                  [[str(r["origin_year"]), *[value(r, n, lang) for n in CARRY_FIGURES]] for r in carry["by_origin_year"]]
                  + [[w.t("total"), *[value(carry["total"], n, lang) for n in CARRY_FIGURES]]])
    out += ["", f"### {w.t('s5_open')}", ""]
    out += _tasks(w, carry["open_tasks"], completed=False)
    used += CARRY_FIGURES

    # 6. by unit
    out += ["", f"## {w.t('s6')}", ""]
    out += _table([w.t("unit"), *[w.label(n) for n in UNIT_FIGURES]],
                  [[u["name"], *[value(u["figures"], n, lang) for n in UNIT_FIGURES]] for u in review["by_unit"]["rows"]]
                  + [[w.t("total"), *[value(total, n, lang) for n in UNIT_FIGURES]]])

    out += ["", f"## {w.t('definitions')}", "", w.t("definitions_note"), ""]
    for name in dict.fromkeys(used):
        out.append(f"- **{w.label(name)}** (`{name}`): {w.definition(name)}")
    return "\n".join(out) + "\n"


def _tasks(w: _Words, tasks: list[dict[str, Any]], *, completed: bool) -> list[str]:
    if not tasks:
        return [w.t("none")]
    header = [w.t("number"), w.t("content"), w.t("lead"), w.t("domain"), w.t("due"), w.t("original_due"),
              w.t("status"), w.t("days_overdue")]
    header += [w.t("completed_on")] if completed else [w.t("requests"), w.t("adjustments")]
    rows = []
    for t in tasks:
        row = [f"{t['directive_number']} ({t['assigned_on'][:4]})", t["content"], t["lead_unit"],
               t.get("domain") or "", w.day(t["due_on"]), w.day(t["original_due_on"]), w.status(t["status"]),
               str(t["days_overdue"] or "")]
        row += [w.day(t["terminal_on"])] if completed else [str(t["adjustment_requests"]),
                                                            str(t["deadline_adjustments"])]
        rows.append(row)
    return _table(header, rows)


# --------------------------------------------------------------------------- xlsx


def xlsx(review: dict[str, Any], path: Path, lang: str = "vi") -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    w = _Words(review, lang)
    book = Workbook()
    about = book.active
    about.title = w.sheet("about")
    about.append([w.t("title", year=review["year"])])
    about.append([w.t("as_of", moment=w.moment(review["as_of"]), generated=w.moment(review["generated_at"]))])
    about.append(["as_of", review["as_of"]])
    about.append(["generated_at", review["generated_at"]])
    if review.get("frozen"):
        about.append(["frozen", review["frozen"]["closed_at"], review["frozen"]["digest"]])
    about.append([])
    about.append([w.t("definitions_note")])

    def sheet(title: str, header: list[str], names: list[str], rows: Iterable[list[Any]]) -> None:
        ws = book.create_sheet(title)
        ws.append(header)
        ws.append(names)
        for cell in ws[1] + ws[2]:
            cell.font = Font(bold=True)
        for row in rows:
            ws.append(row)
        for column, name in enumerate(names, start=1):
            if "rate" in name:
                for r in range(3, ws.max_row + 1):
                    ws.cell(row=r, column=column).number_format = "0.0%"
            if name in DAY_COLUMNS:  # a real date cell, shown as the office writes it
                for r in range(3, ws.max_row + 1):
                    cell = ws.cell(row=r, column=column)
                    if isinstance(cell.value, str) and cell.value:
                        cell.value = date.fromisoformat(cell.value)
                        cell.number_format = "DD/MM/YYYY"

    def figures_sheet(title: str, first: str, names: tuple[str, ...], rows: list[dict[str, Any]],
                      total: dict[str, Any] | None) -> None:
        body = [[r["name"], *[r["figures"].get(n) for n in names]] for r in rows]
        if total is not None:
            body.append([w.t("total"), *[total.get(n) for n in names]])
        sheet(title, [first, *[w.label(n) for n in names]], ["name", *names], body)

    sheet(w.sheet("documents"), [w.t("review_group"), w.t("kind"), w.label("documents")],
          ["review_group", "kind", "documents"],
          [[r["review_group"], w.kind(r), r["documents"]] for r in review["documents"]["rows"]])
    figures_sheet(w.sheet("results"), w.t("review_group"), RESULT_FIGURES,
                  [{"name": name, "figures": figures} for _, name, _, figures in _group_rows(review)],
                  review["by_review_group"]["total"])
    figures_sheet(w.sheet("reports"), w.t("unit"), REPORT_FIGURES, review["by_unit"]["rows"], review["by_unit"]["total"])
    figures_sheet(w.sheet("domains"), w.t("domain"), DOMAIN_FIGURES, review["by_domain"]["rows"], review["by_domain"]["total"])
    columns = (("directive_number", "number"), ("assigned_on", "assigned_on"), ("content", "content"),
               ("lead_unit", "lead"), ("domain", "domain"), ("due_on", "due"),
               ("original_due_on", "original_due"), ("status", "status"), ("days_overdue", "days_overdue"),
               ("terminal_on", "completed_on"), ("adjustment_requests", "requests"),
               ("deadline_adjustments", "adjustments"))
    for title, tasks in ((w.sheet("key_tasks"), review["key_tasks"]),
                        (w.sheet("carried_open"), review["carry_over"]["open_tasks"])):
        sheet(title, [w.t(key) for _, key in columns], [name for name, _ in columns],
              [[w.status(t[n]) if n == "status" else t.get(n) for n, _ in columns] for t in tasks])
    carry = review["carry_over"]
    sheet(w.sheet("carry_over"), [w.t("origin_year"), *[w.label(n) for n in CARRY_FIGURES]], ["origin_year", *CARRY_FIGURES],
          [[r["origin_year"], *[r.get(n) for n in CARRY_FIGURES]] for r in carry["by_origin_year"]]
          + [[w.t("total"), *[carry["total"].get(n) for n in CARRY_FIGURES]]])
    figures_sheet(w.sheet("units"), w.t("unit"), UNIT_FIGURES, review["by_unit"]["rows"], review["by_unit"]["total"])
    sheet(w.sheet("definitions"), [w.t("figure"), w.t("definitions")], ["figure", "definition"],
          [[f"{w.label(n)} ({n})", w.definition(n)] for n in review["definitions"]])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


# --------------------------------------------------------------------------- files


def file_stem(year: int, lang: str) -> str:
    return f"bao-cao-ra-soat-{year}" if lang == "vi" else f"annual-review-{year}"


def write(review: dict[str, Any], directory: Path, formats: Iterable[str], lang: str = "vi") -> list[Path]:
    """The report in each format asked for, in `directory`; returns the files written."""
    document = as_document(review)
    directory.mkdir(parents=True, exist_ok=True)
    stem = file_stem(document["year"], lang)
    written = []
    for fmt in dict.fromkeys(formats):
        path = directory / f"{stem}.{fmt}"
        if fmt == "md":
            path.write_text(markdown(document, lang), encoding="utf-8")
        elif fmt == "xlsx":
            xlsx(document, path, lang)
        elif fmt == "json":
            path.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        else:
            raise ValueError(f"unknown format {fmt!r}; choose among {', '.join(FORMATS)}")
        written.append(path)
    return written
