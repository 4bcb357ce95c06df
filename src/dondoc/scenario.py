"""The demo province, generated deterministically from a seed: 2016 to the current year,
2018 shaped like the source text (1 Conclusion + 9 socio-economic notices, 19 to Party bodies
and internal affairs, 10 to the Front and mass organisations), tasks done early, on time and
late, key economic projects overdue, 2016–2017 tasks still open and never adjusted, reports
on time, late, missing.

The scenario is written as the office's own spreadsheet (the import format of docs/IMPORT.md),
so the demo goes in through the real import and the services' APIs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from dondoc.importer.sheets import HEADERS, REPORTS, SHEET_NAMES_VI, TASKS, UNITS
from dondoc.importer.text import REVIEW_GROUPS

KT_XH, DANG, MAT_TRAN = REVIEW_GROUPS

# (code, name, review group, parent, reports well and on time in 2018 per the source text)
UNITS_OF_THE_PROVINCE: tuple[tuple[str, str, str, str, bool], ...] = (
    ("BTG", "Ban Tuyên giáo Tỉnh ủy", DANG, "", True),
    ("BNC", "Ban Nội chính Tỉnh ủy", DANG, "", True),
    ("UBKT", "Ủy ban Kiểm tra Tỉnh ủy", DANG, "", True),
    ("BDV", "Ban Dân vận Tỉnh ủy", DANG, "", True),
    ("BTC", "Ban Tổ chức Tỉnh ủy", DANG, "", True),
    ("DUK", "Đảng ủy Khối các cơ quan tỉnh", DANG, "", False),
    ("UBND", "UBND tỉnh", KT_XH, "", False),
    ("STNMT", "Sở Tài nguyên và Môi trường", KT_XH, "UBND", False),
    ("SKHDT", "Sở Kế hoạch và Đầu tư", KT_XH, "UBND", False),
    ("SNNPTNT", "Sở Nông nghiệp và Phát triển nông thôn", KT_XH, "UBND", False),
    ("BQLKKT", "Ban Quản lý Khu kinh tế tỉnh", KT_XH, "UBND", False),
    ("TXQT", "Thị xã Quảng Trị", KT_XH, "", True),
    ("HTP", "Huyện Triệu Phong", KT_XH, "", True),
    ("HVL", "Huyện Vĩnh Linh", KT_XH, "", True),
    ("HHL", "Huyện Hải Lăng", KT_XH, "", False),
    ("HGL", "Huyện Gio Linh", KT_XH, "", False),
    ("MTTQ", "Ủy ban MTTQ Việt Nam tỉnh", MAT_TRAN, "", True),
    ("LDLD", "Liên đoàn Lao động tỉnh", MAT_TRAN, "", True),
    ("TDTN", "Tỉnh đoàn", MAT_TRAN, "", False),
    ("HLHPN", "Hội Liên hiệp Phụ nữ tỉnh", MAT_TRAN, "", False),
    ("HND", "Hội Nông dân tỉnh", MAT_TRAN, "", False),
    ("HCCB", "Hội Cựu chiến binh tỉnh", MAT_TRAN, "", False),
)

KEY_PROJECTS = (
    ("Đất đai", "Đẩy nhanh tiến độ thu hồi đất, giải phóng mặt bằng Khu kinh tế Đông Nam", "BQLKKT"),
    ("Lâm nghiệp", "Hoàn thành bàn giao đất lâm nghiệp của các công ty lâm nghiệp về địa phương", "SNNPTNT"),
    ("Đầu tư", "Hoàn thiện quy hoạch chung xây dựng Khu kinh tế Đông Nam", "SKHDT"),
)

DOMAINS = {
    KT_XH: ("Kinh tế", "Đất đai", "Đầu tư", "Nông nghiệp", "Văn hóa - xã hội", "Tài nguyên - môi trường"),
    DANG: ("Tổ chức xây dựng Đảng", "Tuyên giáo", "Nội chính", "Kiểm tra, giám sát", "Dân vận"),
    MAT_TRAN: ("Mặt trận", "Công đoàn", "Thanh niên", "Phụ nữ", "Nông dân"),
}

REVIEW_TEAM_TASK = ("Thành lập Tổ rà soát ở cấp mình; theo dõi, đôn đốc việc thực hiện các Thông báo "
                    "kết luận của Ban Thường vụ, Thường trực Tỉnh ủy")

TASK_VERBS = ("Chỉ đạo triển khai", "Xây dựng kế hoạch thực hiện", "Tổ chức sơ kết", "Tham mưu ban hành",
              "Kiểm tra, đôn đốc việc thực hiện", "Báo cáo Ban Thường vụ kết quả", "Rà soát, đánh giá")
TASK_OBJECTS = ("Nghị quyết Đại hội Đảng bộ tỉnh", "chương trình xây dựng nông thôn mới",
                "công tác cải cách hành chính", "công tác phòng, chống tham nhũng",
                "phong trào thi đua yêu nước", "công tác dân vận chính quyền",
                "Chỉ thị 05-CT/TW về học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh",
                "công tác cán bộ nhiệm kỳ tới", "đề án phát triển du lịch", "công tác giảm nghèo bền vững")


@dataclass
class ScenarioTask:
    content: str
    lead: str
    cooperating: tuple[str, ...]
    domain: str
    due_on: date | None
    outcome: str  # early | on_time | late | open | open_overdue | no_deadline | withdrawn
    completed_on: date | None = None
    adjusted_due_on: date | None = None
    adjustment_number: str | None = None
    adjustment_decided_on: date | None = None
    key_project: bool = False


@dataclass
class ScenarioDirective:
    number: str
    kind: str  # as written in the sheet
    issuing_body: str
    issued_on: date
    summary: str
    review_group: str
    tasks: list[ScenarioTask] = field(default_factory=list)


@dataclass
class ScenarioReport:
    unit: str
    period: str
    due_on: date
    submitted_on: date | None
    #: the review team's judgement of a 2018 report received: "specific" or "generic" (the
    #: source text: some reports stuck to the notices' items, others stayed generic)
    quality: str | None = None

    @property
    def reviewed_on(self) -> date | None:
        """The day the review team assessed it: five days after it came in, within the year."""
        if self.submitted_on is None or self.quality is None:
            return None
        return max(self.submitted_on, min(self.submitted_on + timedelta(days=5),
                                          date(self.due_on.year, 12, 31)))


@dataclass
class Scenario:
    seed: int
    today: date
    directives: list[ScenarioDirective]
    reports: list[ScenarioReport]

    def directives_of(self, year: int) -> list[ScenarioDirective]:
        return [d for d in self.directives if d.issued_on.year == year]

    def write_workbook(self, path: Path) -> Path:
        from openpyxl import Workbook
        from openpyxl.styles import Font

        book = Workbook()
        units = book.active
        units.title = SHEET_NAMES_VI[UNITS]
        units.append(list(HEADERS[UNITS]))
        names = {code: name for code, name, *_ in UNITS_OF_THE_PROVINCE}
        for code, name, group, parent, _ in UNITS_OF_THE_PROVINCE:
            units.append([code, name, group, names.get(parent, ""), f"{code.lower()}@quangtri.example.vn"])
        tasks = book.create_sheet(SHEET_NAMES_VI[TASKS])
        tasks.append(list(HEADERS[TASKS]))
        for d in self.directives:
            for t in d.tasks:
                status = ("Đã hoàn thành" if t.completed_on else
                          "Rút" if t.outcome == "withdrawn" else "Chưa hoàn thành")
                tasks.append([d.number, d.kind, d.issuing_body, d.issued_on, d.summary, t.domain,
                              d.review_group, t.content, names[t.lead],
                              "; ".join(names[c] for c in t.cooperating), t.due_on, t.adjusted_due_on,
                              t.adjustment_number, t.adjustment_decided_on, t.completed_on, status,
                              "Đã có báo cáo kết quả" if t.completed_on else "",
                              "x" if t.key_project else ""])
        reports = book.create_sheet(SHEET_NAMES_VI[REPORTS])
        reports.append(list(HEADERS[REPORTS]))
        for r in self.reports:
            reports.append([names[r.unit], r.period, r.due_on, r.submitted_on])
        for sheet in book.worksheets:
            for cell in sheet[1]:
                cell.font = Font(bold=True)
            for column in sheet.columns:
                for cell in column:
                    if isinstance(cell.value, date):
                        cell.number_format = "DD/MM/YYYY"
        path.parent.mkdir(parents=True, exist_ok=True)
        book.save(path)
        return path


def _units_of(group: str) -> list[str]:
    return [code for code, _, g, _, _ in UNITS_OF_THE_PROVINCE if g == group]


def generate(seed: int = 2018, today: date | None = None, first_year: int = 2016) -> Scenario:
    today = today or date.today()
    rng = random.Random(seed)
    directives: list[ScenarioDirective] = []
    counter = {"tb": 100, "kl": 10}

    def number(kind: str, year: int) -> str:
        counter[kind] += 1
        return f"{counter[kind]}-{'KL' if kind == 'kl' else 'TB'}/TU"

    for year in range(first_year, today.year + 1):
        if year == 2018:
            plan = [(KT_XH, "kl")] + [(KT_XH, "tb")] * 9 + [(DANG, "tb")] * 19 + [(MAT_TRAN, "tb")] * 10
        else:
            plan = ([(KT_XH, "tb")] * rng.randint(5, 8) + [(DANG, "tb")] * rng.randint(8, 12)
                    + [(MAT_TRAN, "tb")] * rng.randint(3, 6))
        last_day = min(date(year, 11, 30), today - timedelta(days=1))
        span = (last_day - date(year, 1, 10)).days
        if span <= 0:
            continue
        for index, (group, kind) in enumerate(plan):
            issued = date(year, 1, 10) + timedelta(days=int(span * (index + rng.random()) / len(plan)))
            issued = min(issued, last_day)
            directive = ScenarioDirective(
                number=number(kind, year) if kind == "kl" else f"{len(directives) + 100}-TB/TU",
                kind="Kết luận" if kind == "kl" else "Thông báo kết luận",
                issuing_body="BTV" if kind == "kl" or rng.random() < 0.5 else "TT",
                issued_on=issued,
                summary=_summary(rng, group, year),
                review_group=group,
            )
            for _ in range(rng.randint(2, 4)):
                directive.tasks.append(_task(rng, group, issued, today, year))
            if year == 2018 and group == KT_XH and index < len(KEY_PROJECTS):
                domain, text, lead = KEY_PROJECTS[index]
                due = date(2018, 9, 30)
                directive.tasks.append(ScenarioTask(text, lead, ("UBND", "STNMT"), domain, due,
                                                    "open_overdue", key_project=True))
            if year == 2018 and kind == "kl":
                # the Conclusion asks every unit to track the notices at its own level (the source
                # text: many set up their own review teams): a standing task each, so every unit
                # has items to report on, line by line
                directive.tasks += [ScenarioTask(REVIEW_TEAM_TASK, code, (), "Kiểm tra, giám sát", None,
                                                 "no_deadline") for code, *_ in UNITS_OF_THE_PROVINCE]
            directives.append(directive)
    _carry_over_2016_2017(directives, rng)
    reports = _reports(rng, today, first_year)
    _judge_2018_reports(reports, random.Random(seed + 1))  # its own draws: the rest stays as it was
    return Scenario(seed, today, directives, reports)


def _judge_2018_reports(reports: list[ScenarioReport], rng: random.Random) -> None:
    """The units the source text praises sent specific reports; of the others, most were
    generic."""
    good = {code for code, *_, well in UNITS_OF_THE_PROVINCE if well}
    for report in reports:
        if report.period == "2018" and report.submitted_on is not None:
            report.quality = "specific" if report.unit in good or rng.random() < 0.3 else "generic"


def _summary(rng: random.Random, group: str, year: int) -> str:
    topic = rng.choice(DOMAINS[group])
    return f"Kết luận của Ban Thường vụ Tỉnh ủy về {topic.lower()} năm {year}"


def _task(rng: random.Random, group: str, issued: date, today: date, year: int) -> ScenarioTask:
    units = _units_of(group)
    lead = rng.choice(units)
    cooperating = tuple(sorted(set(rng.sample(units, k=min(2, len(units)))) - {lead}))
    content = f"{rng.choice(TASK_VERBS)} {rng.choice(TASK_OBJECTS)}"
    domain = rng.choice(DOMAINS[group])
    roll = rng.random()
    if roll < 0.12:
        return ScenarioTask(content, lead, cooperating, domain, None, "no_deadline")
    due = issued + timedelta(days=rng.choice((30, 45, 60, 90, 120, 180)))
    while due.weekday() >= 5:
        due += timedelta(days=1)
    task = ScenarioTask(content, lead, cooperating, domain, due, "open")
    if roll < 0.40:
        task.outcome, task.completed_on = "early", due - timedelta(days=rng.randint(3, 20))
    elif roll < 0.70:
        task.outcome, task.completed_on = "on_time", due
    elif roll < 0.85:
        task.outcome, task.completed_on = "late", due + timedelta(days=rng.randint(5, 60))
    elif roll < 0.90 and year != 2018:
        task.outcome = "adjusted"
        task.adjustment_decided_on = due - timedelta(days=10)
        task.adjusted_due_on = due + timedelta(days=90)
        task.adjustment_number = f"{rng.randint(1000, 2999)}-CV/TU"
        task.completed_on = task.adjusted_due_on - timedelta(days=5)
    if task.adjustment_decided_on is not None and task.adjustment_decided_on >= today:
        task.outcome, task.completed_on = "open", None  # not decided yet
        task.adjusted_due_on = task.adjustment_number = task.adjustment_decided_on = None
    if task.completed_on is not None:
        task.completed_on = max(task.completed_on, issued)
        if task.completed_on >= today:
            task.completed_on, task.outcome = None, "open"
    return task


def _carry_over_2016_2017(directives: list[ScenarioDirective], rng: random.Random) -> None:
    """Some 2016–2017 tasks stay open, never adjusted: the source text's finding."""
    for directive in directives:
        if directive.issued_on.year in (2016, 2017):
            for task in directive.tasks:
                if task.due_on and rng.random() < 0.25:
                    task.completed_on, task.outcome = None, "open"
                    task.adjusted_due_on = task.adjustment_number = task.adjustment_decided_on = None


def _reports(rng: random.Random, today: date, first_year: int) -> list[ScenarioReport]:
    reports = []
    for year in range(first_year, today.year + 1):
        due = date(year, 11, 30)
        while due.weekday() >= 5:
            due -= timedelta(days=1)
        for code, _, _, _, good in UNITS_OF_THE_PROVINCE:
            if due > today + timedelta(days=60):
                continue
            roll = rng.random()
            if good and year == 2018:
                submitted = due - timedelta(days=rng.randint(0, 5))
            elif roll < 0.55:
                submitted = due - timedelta(days=rng.randint(0, 10))
            elif roll < 0.85:
                submitted = due + timedelta(days=rng.randint(3, 30))
            else:
                submitted = None
            if submitted is not None and submitted >= today:
                submitted = None
            reports.append(ScenarioReport(code, str(year), due, submitted))
    return reports
