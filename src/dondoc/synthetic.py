"""A seeded synthetic history of any number of provinces and years, event by event, as the
services would have published it: units, directives, tasks (assignments, progress,
adjustments, completions, withdrawals, overdue notices), reports (requests, submissions,
returns, reviews). The same seed and shape give the same events, byte for byte.

It serves the benchmarks (`bench/analytics.py` writes it to the services' stores and to Kafka
at national scale) and anyone who needs volume: `dondoc synthetic --provinces 3 --from 2016
--to 2024 -o events.jsonl` writes it as contract events (one JSON line each: service, type,
subject, payload). The demo's province, shaped like the 2018 review and entered through the
real import, is `dondoc.scenario`.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

PROVINCES = [
    "An Giang", "Bà Rịa - Vũng Tàu", "Bắc Giang", "Bắc Kạn", "Bạc Liêu", "Bắc Ninh", "Bến Tre",
    "Bình Định", "Bình Dương", "Bình Phước", "Bình Thuận", "Cà Mau", "Cần Thơ", "Cao Bằng",
    "Đà Nẵng", "Đắk Lắk", "Đắk Nông", "Điện Biên", "Đồng Nai", "Đồng Tháp", "Gia Lai", "Hà Giang",
    "Hà Nam", "Hà Nội", "Hà Tĩnh", "Hải Dương", "Hải Phòng", "Hậu Giang", "Hòa Bình", "Hưng Yên",
    "Khánh Hòa", "Kiên Giang", "Kon Tum", "Lai Châu", "Lâm Đồng", "Lạng Sơn", "Lào Cai",
    "Long An", "Nam Định", "Nghệ An", "Ninh Bình", "Ninh Thuận", "Phú Thọ", "Phú Yên",
    "Quảng Bình", "Quảng Nam", "Quảng Ngãi", "Quảng Ninh", "Quảng Trị", "Sóc Trăng", "Sơn La",
    "Tây Ninh", "Thái Bình", "Thái Nguyên", "Thanh Hóa", "Thừa Thiên Huế", "Tiền Giang",
    "TP. Hồ Chí Minh", "Trà Vinh", "Tuyên Quang", "Vĩnh Long", "Vĩnh Phúc", "Yên Bái",
]
UNIT_KINDS = ["Ban Tuyên giáo", "Ban Nội chính", "Ủy ban Kiểm tra", "Ban Dân vận", "Ban Tổ chức",
              "UBND", "Sở Kế hoạch và Đầu tư", "Sở Tài nguyên và Môi trường", "MTTQVN",
              "LĐLĐ", "Tỉnh đoàn", "Hội Liên hiệp Phụ nữ"]
GROUPS = ["Kinh tế - xã hội", "Xây dựng Đảng, hệ thống chính trị, nội chính", "Mặt trận, đoàn thể"]
DOMAINS = ["Kinh tế", "Đất đai", "Tuyên giáo", "Tổ chức", "Nội chính", "Dân vận", "Văn hóa"]
YEARS = range(2015, 2025)
OFFICE = ('{"id":"vptu.office","role":"office","name":"Văn phòng Tỉnh ủy","unit_id":"VPTU",'
          '"review_group":null}')
SYSTEM = '{"id":"system","role":"system","name":"dondoc","unit_id":null,"review_group":null}'


def q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def at(day: date, hour: int = 9) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00+07:00"


def d(day: date | None) -> str:
    return "null" if day is None else f'"{day.isoformat()}"'


@dataclass
class Event:
    service: str
    aggregate: str
    ce_type: str
    subject: str
    payload: str
    private_topic: str


class History:
    """The synthetic history, event by event: the same for the same seed and shape.

    `scale` is the benchmark's knob (1.0: every province, 70 tasks per unit and year ≈ 5.3
    million events); `provinces` (a number: the first N provinces, numbered beyond the 63)
    and `years` set the shape directly."""

    def __init__(self, seed: int, scale: float = 1.0, *, provinces: int | None = None,
                 years: range = YEARS, units_per_province: int = 40,
                 tasks_per_unit_year: int | None = None) -> None:
        self.seed = seed
        self.scale = scale
        self.years = years
        self.units_per_province = units_per_province
        self.tasks_per_unit_year = tasks_per_unit_year or max(1, round(70 * scale))
        if provinces is None:
            provinces = len(PROVINCES) if scale >= 0.2 else max(3, round(63 * scale * 5))
        self.provinces = [PROVINCES[i] if i < len(PROVINCES) else f"Tỉnh {i + 1}" for i in range(provinces)]

    def units(self) -> list[tuple[str, str, str]]:
        out = []
        for p, province in enumerate(self.provinces):
            for u in range(self.units_per_province):
                kind = UNIT_KINDS[u % len(UNIT_KINDS)]
                out.append((f"P{p:02d}-U{u:02d}", f"{kind} {province} {u // len(UNIT_KINDS) + 1}",
                            GROUPS[u % len(GROUPS)]))
        return out

    def events(self) -> Iterator[Event]:
        rng = random.Random(self.seed)
        units = self.units()
        for unit_id, name, group in units:
            yield Event("directives", unit_id, "vn.dondoc.unit.registered.v1", unit_id,
                        f'{{"occurred_at":"{self.years[0]}-01-05T09:00:00+07:00","actor":{OFFICE},'
                        f'"unit_id":"{unit_id}","code":"{unit_id}","name":{q(name)},'
                        f'"review_group":{q(group)},"parent_unit_id":null,"emails":[],'
                        f'"leadership_emails":[],"webhook_url":null}}', "dondoc_bench:UnitRegistered")
        for year in self.years:
            for p in range(len(self.provinces)):
                directives = []
                for n in range(20):
                    ident = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                    number = f"{n + 1}-TB/TU"
                    issued = date(year, 1, 2) + timedelta(days=rng.randrange(360))
                    directives.append((ident, number, issued))
                    yield Event("directives", ident, "vn.dondoc.directive.issued.v1", ident,
                                f'{{"occurred_at":"{at(issued)}","actor":{OFFICE},"directive_id":"{ident}",'
                                f'"number":"{number}","kind":"thong_bao_ket_luan","issuing_body":"BTV",'
                                f'"issued_on":"{issued}","summary":"Kết luận về nhiệm vụ năm {year}",'
                                f'"signer":null,"secrecy":"thuong","urgency":"thuong","review_group":null,'
                                f'"items":[{{"item_id":"1","paragraph":"1","text":"Triển khai",'
                                f'"lead_unit_id":null,"cooperating_unit_ids":[],"deadline":{{"kind":"none",'
                                f'"due_on":null,"days":null,"frequency":null}},"domain":null,'
                                f'"review_group":null,"key_task":false,"product":null}}]}}',
                                "dondoc_bench:DirectiveIssued")
                for u in range(self.units_per_province):
                    unit_id, _, group = units[p * self.units_per_province + u]
                    for _ in range(self.tasks_per_unit_year):
                        yield from self._task(rng, year, unit_id, group, directives)
                    yield from self._reports(rng, year, unit_id)

    def _task(self, rng: random.Random, year: int, unit: str, group: str,
              directives: list) -> Iterator[Event]:
        task = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        directive, number, issued = directives[rng.randrange(len(directives))]
        assigned = max(issued, date(year, 1, 1) + timedelta(days=rng.randrange(330)))
        due = None if rng.random() < 0.15 else assigned + timedelta(days=rng.randrange(30, 180))
        rule = (f'{{"kind":"date","due_on":{d(due)},"days":null,"frequency":null}}' if due
                else '{"kind":"none","due_on":null,"days":null,"frequency":null}')
        key = "true" if rng.random() < 0.1 else "false"
        topic = "dondoc_bench:Task"

        def event(ce: str, body: str, kind: str) -> Event:
            return Event("tasks", task, f"vn.dondoc.task.{ce}.v1", task, body, topic + kind)

        yield event("assigned", (
            f'{{"occurred_at":"{at(assigned)}","actor":{OFFICE},"task_id":"{task}","directive_id":"{directive}",'
            f'"directive_number":"{number}","directive_kind":"thong_bao_ket_luan","issuing_body":"BTV",'
            f'"item_id":"1","paragraph":"1","content":"Tổ chức thực hiện nhiệm vụ năm {year}",'
            f'"lead_unit_id":"{unit}","cooperating_unit_ids":[],"assigned_on":"{assigned}",'
            f'"deadline_rule":{rule},"due_on":{d(due)},"original_due_on":{d(due)},'
            f'"domain":{q(DOMAINS[rng.randrange(len(DOMAINS))])},"review_group":{q(group)},'
            f'"key_task":{key},"secrecy":"thuong","report_frequency":null,"product":null}}'), "Assigned")
        if rng.random() < 0.5:
            day = assigned + timedelta(days=rng.randrange(5, 60))
            yield event("progress_recorded", (
                f'{{"occurred_at":"{at(day, 16)}","actor":{OFFICE},"task_id":"{task}","unit_id":"{unit}",'
                f'"status_claimed":"in_progress","progress":"Đang triển khai","evidence":null,'
                f'"delay_reason":null,"report_id":null,"recorded_on":"{day}"}}'), "Progress")
        effective = due
        if due and rng.random() < 0.2:
            decided = due - timedelta(days=rng.randrange(-20, 10))
            effective = due + timedelta(days=rng.randrange(30, 120))
            yield event("deadline_adjusted", (
                f'{{"occurred_at":"{at(decided, 10)}","actor":{OFFICE},"task_id":"{task}",'
                f'"lead_unit_id":"{unit}","kind":"extend","previous_due_on":"{due}","due_on":"{effective}",'
                f'"original_due_on":"{due}","decision":{{"number":"{rng.randrange(1, 9999)}-CV/TU",'
                f'"decided_on":"{decided}","decider":"Thường trực Tỉnh ủy"}},"request_id":null}}'), "Adjusted")
        outcome = rng.random()
        anchor = effective or assigned + timedelta(days=120)
        if outcome < 0.8:
            done = anchor + timedelta(days=rng.randrange(-40, 45))
            done = max(done, assigned)
            if effective and done > effective:
                yield self._overdue(task, unit, effective)
            yield event("completed", (
                f'{{"occurred_at":"{at(done, 15)}","actor":{OFFICE},"task_id":"{task}",'
                f'"lead_unit_id":"{unit}","completed_on":"{done}","due_on":{d(effective)},'
                f'"original_due_on":{d(due)},"result":null,"evidence":null,"report_id":null}}'), "Completed")
        elif outcome < 0.85:
            gone = assigned + timedelta(days=rng.randrange(10, 200))
            yield event("withdrawn", (
                f'{{"occurred_at":"{at(gone, 11)}","actor":{OFFICE},"task_id":"{task}",'
                f'"lead_unit_id":"{unit}","withdrawn_on":"{gone}","decision":null,"reason":null,'
                f'"request_id":null}}'), "Withdrawn")
        elif effective:
            yield self._overdue(task, unit, effective)

    @staticmethod
    def _overdue(task: str, unit: str, due: date) -> Event:
        moment = f"{(due + timedelta(days=1)).isoformat()}T00:00:00+07:00"
        return Event("tasks", task, "vn.dondoc.task.overdue.v1", task,
                     f'{{"occurred_at":"{moment}","actor":{SYSTEM},"task_id":"{task}",'
                     f'"lead_unit_id":"{unit}","due_on":"{due}","overdue_at":"{moment}"}}',
                     "dondoc_bench:TaskOverdue")

    def _reports(self, rng: random.Random, year: int, unit: str) -> Iterator[Event]:
        for label, due in ((f"6 tháng {year}", date(year, 6, 30)), (str(year), date(year, 11, 30))):
            report = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            cycle = f"cycle-{year}-{label[:1]}"
            asked = due - timedelta(days=30)

            def event(ce: str, body: str, kind: str, report: str = report) -> Event:
                return Event("reports", report, f"vn.dondoc.report.{ce}.v1", report, body,
                             "dondoc_bench:Report" + kind)

            yield event("requested", (
                f'{{"occurred_at":"{at(asked)}","actor":{OFFICE},"report_id":"{report}","cycle_id":"{cycle}",'
                f'"unit_id":"{unit}","period":{{"kind":"year","label":{q(label)},"starts_on":"{year}-01-01",'
                f'"ends_on":"{year}-12-31"}},"data_cutoff_on":"{due - timedelta(days=15)}",'
                f'"due_on":"{due}","task_ids":[]}}'), "Requested")
            if rng.random() < 0.9:
                submitted = due + timedelta(days=rng.randrange(-10, 8))
                for revision in (1, 2):
                    yield event("submitted", (
                        f'{{"occurred_at":"{at(submitted, 15)}","actor":{OFFICE},"report_id":"{report}",'
                        f'"cycle_id":"{cycle}","unit_id":"{unit}","submitted_on":"{submitted}",'
                        f'"revision":{revision},"lines":[],"summary":null}}'), "Submitted")
                    returned = rng.random() < 0.2 and revision == 1
                    reviewed = submitted + timedelta(days=5)
                    yield event("reviewed", (
                        f'{{"occurred_at":"{at(reviewed)}","actor":{OFFICE},"report_id":"{report}",'
                        f'"cycle_id":"{cycle}","unit_id":"{unit}","revision":{revision},'
                        f'"outcome":"{"returned" if returned else "accepted"}","reviewed_on":"{reviewed}",'
                        f'"lines":[],"comment":null}}'), "Reviewed")
                    if not returned:
                        break
                    submitted = reviewed + timedelta(days=rng.randrange(3, 20))
