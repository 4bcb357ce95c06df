"""The office's words for what happened: every event and every figure, in Vietnamese first,
English beside it. A history is read by people (leaders, reviewers, auditors); the wording
depends only on the event and on the unit names it is given, so it reads the same however
often it is rebuilt. The sentences are not stored: the readers render them from the stored
payload (`render`) in the reader's language (docs/adr/0010).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from functools import lru_cache

from dondoc_contracts import events as ev
from dondoc_contracts.base import ContractEvent
from dondoc_contracts.values import AdjustmentKind, Channel, ClaimedStatus, DirectiveKind, Verdict

Names = Mapping[str, str]

STATUS_LABELS: dict[str, tuple[str, str]] = {
    "completed_on_time": ("Đã hoàn thành đúng hạn", "Completed on time"),
    "completed_late": ("Đã hoàn thành quá hạn", "Completed late"),
    "open_in_time": ("Chưa hoàn thành, còn trong hạn", "Open, within its deadline"),
    "open_overdue": ("Chưa hoàn thành, quá hạn", "Open, overdue"),
    "open_no_deadline": ("Không có thời hạn / thường xuyên", "No deadline (standing or recurring)"),
    "withdrawn": ("Đã rút", "Withdrawn"),
    "not_assigned": ("Chưa được giao", "Not assigned yet"),
}

#: What each kind of event is called (Vietnamese, English): what a reader that cannot render
#: the sentence (a dashboard's SQL) shows beside the event; the sentence is `render`'s.
EVENT_NAMES: dict[str, tuple[str, str]] = {
    "UnitRegistered": ("Đăng ký đơn vị", "Unit registered"),
    "UnitChanged": ("Thay đổi đơn vị", "Unit changed"),
    "DirectiveIssued": ("Ban hành văn bản", "Directive issued"),
    "DirectiveAmended": ("Sửa đổi văn bản", "Directive amended"),
    "DirectiveRevoked": ("Thu hồi văn bản", "Directive revoked"),
    "TaskAssigned": ("Giao nhiệm vụ", "Task assigned"),
    "TaskProgressRecorded": ("Báo cáo tiến độ", "Progress recorded"),
    "TaskCompleted": ("Hoàn thành nhiệm vụ", "Task completed"),
    "TaskDeadlineAdjusted": ("Điều chỉnh thời hạn", "Deadline adjusted"),
    "TaskReassigned": ("Chuyển đơn vị chủ trì", "Task reassigned"),
    "TaskWithdrawn": ("Rút nhiệm vụ", "Task withdrawn"),
    "TaskOverdue": ("Nhiệm vụ quá hạn", "Task overdue"),
    "ReportRequested": ("Yêu cầu báo cáo", "Report requested"),
    "ReportSubmitted": ("Nộp báo cáo", "Report submitted"),
    "ReportReviewed": ("Thẩm định báo cáo", "Report reviewed"),
    "ReportOverdue": ("Báo cáo quá hạn", "Report overdue"),
    "AdjustmentRequested": ("Đề nghị điều chỉnh", "Adjustment requested"),
    "AdjustmentDecided": ("Quyết định điều chỉnh", "Adjustment decided"),
    "NotificationSent": ("Đã gửi thông báo", "Notification sent"),
    "NotificationFailed": ("Gửi thông báo không thành công", "Notification failed"),
}

FIGURE_LABELS: dict[str, tuple[str, str]] = {
    "unit": ("Đơn vị", "Unit"),
    "review_group": ("Nhóm rà soát", "Review group"),
    "domain": ("Lĩnh vực", "Domain"),
    "issuing_body": ("Cơ quan ban hành", "Issuing body"),
    "assigned": ("Giao trong năm", "Assigned"),
    "carried_over": ("Chuyển tiếp", "Carried over"),
    "completed_on_time": ("Hoàn thành đúng hạn", "Completed on time"),
    "completed_late": ("Hoàn thành quá hạn", "Completed late"),
    "open_in_time": ("Đang thực hiện, trong hạn", "Open, in time"),
    "open_overdue": ("Chưa hoàn thành, quá hạn", "Open, overdue"),
    "open_no_deadline": ("Không có thời hạn", "No deadline"),
    "withdrawn": ("Rút", "Withdrawn"),
    "on_time_rate_of_due": ("Tỷ lệ đúng hạn / đến hạn", "On-time rate of due"),
    "on_time_rate_of_all": ("Tỷ lệ đúng hạn / tổng số", "On-time rate of all"),
    "overdue_1_30": ("Quá hạn 1–30 ngày", "Overdue 1–30 days"),
    "overdue_31_90": ("Quá hạn 31–90 ngày", "Overdue 31–90 days"),
    "overdue_91_120": ("Quá hạn 91–120 ngày", "Overdue 91–120 days"),
    "overdue_over_120": ("Quá hạn trên 120 ngày", "Overdue over 120 days"),
    "reports_due": ("Báo cáo phải nộp", "Reports due"),
    "reports_on_time": ("Nộp đúng hạn", "Submitted on time"),
    "reports_late": ("Nộp muộn", "Submitted late"),
    "reports_missing": ("Chưa nộp, quá hạn", "Missing"),
    "reports_pending": ("Chưa đến hạn", "Pending"),
    "reports_accepted": ("Được chấp nhận", "Accepted"),
    "reports_returned": ("Trả lại để hoàn thiện", "Returned for revision"),
    "reports_specific": ("Báo cáo cụ thể", "Specific reports"),
    "reports_generic": ("Báo cáo chung chung", "Generic reports"),
    "documents": ("Số văn bản", "Documents"),
    "carried_open": ("Chuyển tiếp còn chưa hoàn thành", "Carried over, still open"),
    "adjustment_requested": ("Đã đề nghị điều chỉnh", "Adjustment requested"),
    "deadline_adjusted": ("Đã được điều chỉnh thời hạn", "Deadline adjusted"),
    "never_adjusted": ("Chưa từng đề nghị, chưa điều chỉnh", "Never requested nor adjusted"),
    "reported_well": ("Đơn vị báo cáo cụ thể, đúng hạn", "Units that reported specifically and on time"),
    "reported_late_or_missing": ("Đơn vị báo cáo chậm hoặc chưa báo cáo", "Units late or missing"),
    "key_tasks": ("Nhiệm vụ trọng điểm quá hạn, hoàn thành chậm", "Key tasks overdue or completed late"),
}


#: What each figure counts (metrics.md, and the annual review's figures below it), with its
#: denominator where it is a rate: printed beside the figures wherever they are published.
FIGURE_DEFINITIONS: dict[str, tuple[str, str]] = {
    "assigned": ("nhiệm vụ do đơn vị chủ trì, được giao trong năm",
                 "tasks with the unit as lead, assigned during the year"),
    "carried_over": ("nhiệm vụ giao trước năm, đầu năm chưa hoàn thành và chưa rút",
                     "tasks assigned before the year, neither completed nor withdrawn at its start"),
    "completed_on_time": ("đã hoàn thành đến thời điểm tính, ngày hoàn thành không sau hạn "
                          "(hạn điều chỉnh nếu có; nhiệm vụ không có thời hạn tính ở đây)",
                          "completed by the as-of moment, completion day not after the effective "
                          "deadline (tasks without deadline count here)"),
    "completed_late": ("đã hoàn thành đến thời điểm tính, ngày hoàn thành sau hạn",
                       "completed by the as-of moment, completion day after the effective deadline"),
    "open_in_time": ("chưa hoàn thành, chưa rút, có thời hạn và chưa quá hạn tại thời điểm tính",
                     "neither completed nor withdrawn, has a deadline, not overdue at the as-of moment"),
    "open_overdue": ("chưa hoàn thành, chưa rút, đã quá hạn tại thời điểm tính (quá hạn từ 0 giờ "
                     "ngày sau ngày hạn)",
                     "neither completed nor withdrawn, overdue at the as-of moment (from 00:00 of "
                     "the day after the deadline)"),
    "open_no_deadline": ("chưa hoàn thành, chưa rút, không có thời hạn (thường xuyên)",
                         "neither completed nor withdrawn, without deadline (standing or recurring)"),
    "withdrawn": ("đã rút theo quyết định đến thời điểm tính", "withdrawn by a decision by the as-of moment"),
    "on_time_rate_of_due": ("hoàn thành đúng hạn ÷ (hoàn thành đúng hạn + hoàn thành quá hạn + "
                            "quá hạn chưa hoàn thành); trống khi mẫu số bằng 0",
                            "completed_on_time ÷ (completed_on_time + completed_late + open_overdue); "
                            "empty when the denominator is 0"),
    "on_time_rate_of_all": ("hoàn thành đúng hạn ÷ (giao trong năm + chuyển tiếp − rút); trống khi "
                            "mẫu số bằng 0",
                            "completed_on_time ÷ (assigned + carried_over − withdrawn); empty when the "
                            "denominator is 0"),
    "overdue_1_30": ("trong số nhiệm vụ chưa hoàn thành, quá hạn: quá hạn từ 1 đến 30 ngày (tính "
                     "từ hạn có hiệu lực đến thời điểm tính)",
                     "of the open overdue tasks: 1 to 30 days past the effective deadline at the "
                     "as-of moment"),
    "overdue_31_90": ("trong số nhiệm vụ chưa hoàn thành, quá hạn: quá hạn từ 31 đến 90 ngày",
                      "of the open overdue tasks: 31 to 90 days past the effective deadline"),
    "overdue_91_120": ("trong số nhiệm vụ chưa hoàn thành, quá hạn: quá hạn từ 91 đến 120 ngày",
                       "of the open overdue tasks: 91 to 120 days past the effective deadline"),
    "overdue_over_120": ("trong số nhiệm vụ chưa hoàn thành, quá hạn: quá hạn trên 120 ngày",
                         "of the open overdue tasks: more than 120 days past the effective deadline"),
    "reports_due": ("báo cáo tự rà soát có hạn nộp trong năm", "self-review reports due in the year"),
    "reports_on_time": ("đã nộp đến thời điểm tính, ngày nộp lần đầu không sau hạn nộp",
                        "submitted by the as-of moment, first submission day not after the due day"),
    "reports_late": ("đã nộp đến thời điểm tính, ngày nộp lần đầu sau hạn nộp",
                     "submitted by the as-of moment, first submission day after the due day"),
    "reports_missing": ("chưa nộp tại thời điểm tính và đã quá hạn nộp",
                        "not submitted at the as-of moment, due day already past"),
    "reports_pending": ("chưa nộp, chưa đến hạn nộp", "not submitted, due day not past yet"),
    "reports_accepted": ("lần đánh giá gần nhất của Tổ rà soát (đến thời điểm tính): chấp nhận",
                         "the review team's latest verdict by the as-of moment: accepted"),
    "reports_returned": ("lần đánh giá gần nhất: trả lại để hoàn thiện",
                         "the latest verdict: returned for revision"),
    "reports_specific": ("lần đánh giá gần nhất đánh giá mọi dòng (từng nhiệm vụ) là cụ thể",
                         "the latest review judged every line (task by task) specific"),
    "reports_generic": ("lần đánh giá gần nhất đánh giá ít nhất một dòng là chung chung",
                        "the latest review judged at least one line generic"),
    "documents": ("văn bản (kết luận, thông báo kết luận…) ban hành trong năm, chưa bị thu hồi tại "
                  "thời điểm tính; nhóm rà soát của văn bản (hoặc của các nhiệm vụ trong văn bản)",
                  "documents (conclusions, notices…) issued during the year, not revoked at the "
                  "as-of moment; by the document's review group (or its tasks')"),
    "reported_well": ("đơn vị có mọi báo cáo phải nộp trong năm nộp đúng hạn và được Tổ rà soát "
                      "đánh giá cụ thể (báo cáo đúng hạn = báo cáo cụ thể = báo cáo phải nộp > 0)",
                      "units whose every report due in the year came on time and was judged "
                      "specific (reports_on_time = reports_specific = reports_due > 0)"),
    "reported_late_or_missing": ("đơn vị có báo cáo nộp muộn hoặc chưa nộp (nộp muộn + chưa nộp > 0)",
                                 "units with a report late or missing (reports_late + reports_missing > 0)"),
    "key_tasks": ("nhiệm vụ trọng điểm trong khối lượng của năm, tại thời điểm tính quá hạn chưa "
                  "hoàn thành hoặc đã hoàn thành quá hạn",
                  "key tasks of the year's workload, open overdue or completed late at the as-of moment"),
    "carried_open": ("nhiệm vụ chuyển tiếp còn chưa hoàn thành tại thời điểm tính (trong hạn, quá "
                     "hạn hoặc không thời hạn)",
                     "carried-over tasks still open at the as-of moment (in time, overdue or without "
                     "deadline)"),
    "adjustment_requested": ("trong số đó, nhiệm vụ đơn vị chủ trì đã từng đề nghị điều chỉnh "
                             "(gia hạn, giãn, rút) trước thời điểm tính",
                             "of those, tasks whose lead unit ever requested an adjustment (extend, "
                             "stretch, withdraw) by the as-of moment"),
    "deadline_adjusted": ("trong số đó, nhiệm vụ đã có quyết định điều chỉnh thời hạn",
                          "of those, tasks whose deadline was ever adjusted by a decision"),
    "never_adjusted": ("trong số đó, nhiệm vụ chưa từng đề nghị điều chỉnh và chưa từng được điều "
                       "chỉnh thời hạn",
                       "of those, tasks never requested for adjustment and never adjusted"),
}


def figure_definition(name: str) -> tuple[str, str]:
    if name.endswith("_original") and name[: -len("_original")] in FIGURE_DEFINITIONS:
        vi, en = FIGURE_DEFINITIONS[name[: -len("_original")]]
        return f"{vi}; tính theo hạn ban đầu", f"{en}; against the original deadline"
    return FIGURE_DEFINITIONS.get(name, (name, name))


def kind_label(kind: str | None) -> tuple[str, str]:
    try:
        return _KINDS[DirectiveKind(kind)]
    except ValueError:
        return (kind or "Văn bản", kind or "Document")


def figure_label(name: str) -> tuple[str, str]:
    if name.endswith("_original") and name[: -len("_original")] in FIGURE_LABELS:
        vi, en = FIGURE_LABELS[name[: -len("_original")]]
        return f"{vi} (theo hạn ban đầu)", f"{en} (original deadline)"
    return FIGURE_LABELS.get(name, (name, name))


_KINDS = {
    DirectiveKind.KET_LUAN: ("Kết luận", "Conclusion"),
    DirectiveKind.THONG_BAO_KET_LUAN: ("Thông báo kết luận", "Conclusion notice"),
    DirectiveKind.CHI_THI: ("Chỉ thị", "Directive"),
    DirectiveKind.NGHI_QUYET: ("Nghị quyết", "Resolution"),
    DirectiveKind.KE_HOACH: ("Kế hoạch", "Plan"),
    DirectiveKind.CONG_VAN: ("Công văn", "Official letter"),
    DirectiveKind.KHAC: ("Văn bản", "Document"),
}
_ADJUSTMENTS = {
    AdjustmentKind.EXTEND: ("gia hạn", "extension"),
    AdjustmentKind.STRETCH: ("giãn tiến độ", "stretch"),
    AdjustmentKind.WITHDRAW: ("rút nhiệm vụ", "withdrawal"),
}
_CLAIMS = {
    ClaimedStatus.COMPLETED: ("đã hoàn thành", "completed"),
    ClaimedStatus.IN_PROGRESS: ("đang thực hiện", "in progress"),
    ClaimedStatus.NOT_STARTED: ("chưa thực hiện", "not started"),
}
_VERDICTS = {Verdict.ACCEPTED: ("chấp nhận", "accepted"),
             Verdict.RETURNED: ("trả lại để hoàn thiện", "returned for revision")}


# a history names the same few thousand days again and again: each is written once
@lru_cache(maxsize=8192)
def vi_day(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else "không có"


@lru_cache(maxsize=8192)
def en_day(day: date | None) -> str:
    return day.isoformat() if day else "none"


class _Say:
    def __init__(self, names: Names) -> None:
        self.names = names

    def unit(self, unit_id: str | None) -> str:
        if not unit_id:
            return "?"
        return self.names.get(unit_id, unit_id)

    def units(self, ids: tuple[str, ...]) -> str:
        return ", ".join(self.unit(u) for u in ids)


def _unit_registered(e: ev.UnitRegistered, s: _Say) -> tuple[str, str]:
    return f"Đăng ký đơn vị {e.name} ({e.code})", f"Unit {e.name} ({e.code}) registered"


def _unit_changed(e: ev.UnitChanged, s: _Say) -> tuple[str, str]:
    before = f"{e.previous_name} → " if e.previous_name and e.previous_name != e.name else ""
    state_vi = "" if e.active else "; ngừng hoạt động"
    state_en = "" if e.active else "; no longer active"
    return (f"Cập nhật đơn vị: {before}{e.name}{state_vi}",
            f"Unit changed: {before}{e.name}{state_en}")


def _directive_issued(e: ev.DirectiveIssued, s: _Say) -> tuple[str, str]:
    vi, en = _KINDS[e.kind]
    return (f"Ban hành {vi} số {e.number} ({e.issuing_body}) ngày {vi_day(e.issued_on)}: {e.summary}",
            f"{en} {e.number} issued by {e.issuing_body} on {en_day(e.issued_on)}: {e.summary}")


def _directive_amended(e: ev.DirectiveAmended, s: _Say) -> tuple[str, str]:
    counts_vi = (f"thêm {len(e.items_added)} mục, sửa {len(e.items_changed)} mục, "
                 f"bỏ {len(e.items_removed)} mục")
    counts_en = (f"{len(e.items_added)} item(s) added, {len(e.items_changed)} changed, "
                 f"{len(e.items_removed)} removed")
    why = f": {e.reason}" if e.reason else ""
    return f"Sửa đổi văn bản {e.number} ({counts_vi}){why}", f"{e.number} amended ({counts_en}){why}"


def _directive_revoked(e: ev.DirectiveRevoked, s: _Say) -> tuple[str, str]:
    d = e.decision
    return (f"Thu hồi văn bản {e.number} theo {d.number} ngày {vi_day(d.decided_on)} "
            f"của {d.decider}: {e.reason}",
            f"{e.number} revoked by {d.number} of {d.decider} on {en_day(d.decided_on)}: {e.reason}")


def _task_assigned(e: ev.TaskAssigned, s: _Say) -> tuple[str, str]:
    with_vi = f", phối hợp: {s.units(e.cooperating_unit_ids)}" if e.cooperating_unit_ids else ""
    with_en = f", cooperating: {s.units(e.cooperating_unit_ids)}" if e.cooperating_unit_ids else ""
    due_vi = f"thời hạn {vi_day(e.due_on)}" if e.due_on else "không có thời hạn"
    due_en = f"due {en_day(e.due_on)}" if e.due_on else "no deadline"
    key_vi, key_en = (" (nhiệm vụ trọng điểm)", " (key task)") if e.key_task else ("", "")
    return (f"Giao nhiệm vụ{key_vi} theo {e.directive_number}, mục {e.paragraph}: "
            f"{s.unit(e.lead_unit_id)} chủ trì{with_vi}; {due_vi}",
            f"Task{key_en} assigned by {e.directive_number} §{e.paragraph}: lead "
            f"{s.unit(e.lead_unit_id)}{with_en}; {due_en}")


def _task_progress(e: ev.TaskProgressRecorded, s: _Say) -> tuple[str, str]:
    vi, en = _CLAIMS[e.status_claimed]
    text = f": {e.progress}" if e.progress else ""
    return (f"{s.unit(e.unit_id)} báo cáo tiến độ ngày {vi_day(e.recorded_on)}, {vi}{text}",
            f"{s.unit(e.unit_id)} reported progress on {en_day(e.recorded_on)}, {en}{text}")


def _task_completed(e: ev.TaskCompleted, s: _Say) -> tuple[str, str]:
    result = f": {e.result}" if e.result else ""
    return (f"Xác nhận {s.unit(e.lead_unit_id)} hoàn thành ngày {vi_day(e.completed_on)} "
            f"(thời hạn {vi_day(e.due_on)}){result}",
            f"Completion by {s.unit(e.lead_unit_id)} on {en_day(e.completed_on)} confirmed "
            f"(due {en_day(e.due_on)}){result}")


def _task_adjusted(e: ev.TaskDeadlineAdjusted, s: _Say) -> tuple[str, str]:
    vi, en = _ADJUSTMENTS[e.kind]
    d = e.decision
    return (f"Điều chỉnh thời hạn ({vi}) từ {vi_day(e.previous_due_on)} thành {vi_day(e.due_on)} "
            f"theo {d.number} ngày {vi_day(d.decided_on)} của {d.decider}",
            f"Deadline changed ({en}) from {en_day(e.previous_due_on)} to {en_day(e.due_on)} "
            f"by {d.number} of {d.decider} on {en_day(d.decided_on)}")


def _task_reassigned(e: ev.TaskReassigned, s: _Say) -> tuple[str, str]:
    why = f": {e.reason}" if e.reason else ""
    return (f"Chuyển đơn vị chủ trì từ {s.unit(e.previous_lead_unit_id)} sang "
            f"{s.unit(e.lead_unit_id)} ngày {vi_day(e.reassigned_on)}{why}",
            f"Lead moved from {s.unit(e.previous_lead_unit_id)} to {s.unit(e.lead_unit_id)} "
            f"on {en_day(e.reassigned_on)}{why}")


def _task_withdrawn(e: ev.TaskWithdrawn, s: _Say) -> tuple[str, str]:
    by_vi = f" theo {e.decision.number} của {e.decision.decider}" if e.decision else ""
    by_en = f" by {e.decision.number} of {e.decision.decider}" if e.decision else ""
    why = f": {e.reason}" if e.reason else ""
    return (f"Rút nhiệm vụ ngày {vi_day(e.withdrawn_on)}{by_vi}{why}",
            f"Task withdrawn on {en_day(e.withdrawn_on)}{by_en}{why}")


def _task_overdue(e: ev.TaskOverdue, s: _Say) -> tuple[str, str]:
    return (f"Quá hạn: {s.unit(e.lead_unit_id)} chưa hoàn thành trong thời hạn {vi_day(e.due_on)}",
            f"Overdue: {s.unit(e.lead_unit_id)} had not completed it by {en_day(e.due_on)}")


def _report_requested(e: ev.ReportRequested, s: _Say) -> tuple[str, str]:
    return (f"Yêu cầu {s.unit(e.unit_id)} báo cáo tự rà soát kỳ {e.period.label}, "
            f"hạn nộp {vi_day(e.due_on)}",
            f"{s.unit(e.unit_id)} asked for its self-review report for {e.period.label}, "
            f"due {en_day(e.due_on)}")


def _report_submitted(e: ev.ReportSubmitted, s: _Say) -> tuple[str, str]:
    return (f"{s.unit(e.unit_id)} nộp báo cáo (lần {e.revision}) ngày {vi_day(e.submitted_on)}, "
            f"{len(e.lines)} dòng",
            f"{s.unit(e.unit_id)} submitted its report (revision {e.revision}) on "
            f"{en_day(e.submitted_on)}, {len(e.lines)} line(s)")


def _report_reviewed(e: ev.ReportReviewed, s: _Say) -> tuple[str, str]:
    vi, en = _VERDICTS[e.outcome]
    note = f": {e.comment}" if e.comment else ""
    return (f"Tổ rà soát {vi} báo cáo của {s.unit(e.unit_id)} (lần {e.revision}){note}",
            f"Review team {en} the report of {s.unit(e.unit_id)} (revision {e.revision}){note}")


def _report_overdue(e: ev.ReportOverdue, s: _Say) -> tuple[str, str]:
    return (f"{s.unit(e.unit_id)} chưa nộp báo cáo đến hạn {vi_day(e.due_on)}",
            f"{s.unit(e.unit_id)} had not submitted its report due {en_day(e.due_on)}")


def _adjustment_requested(e: ev.AdjustmentRequested, s: _Say) -> tuple[str, str]:
    vi, en = _ADJUSTMENTS[e.kind]
    to_vi = f" đến {vi_day(e.proposed_due_on)}" if e.proposed_due_on else ""
    to_en = f" to {en_day(e.proposed_due_on)}" if e.proposed_due_on else ""
    return (f"{s.unit(e.unit_id)} đề nghị {vi}{to_vi}: {e.reason}",
            f"{s.unit(e.unit_id)} asked for {'an' if en[0] in 'aeiou' else 'a'} {en}{to_en}: "
            f"{e.reason}")


def _adjustment_decided(e: ev.AdjustmentDecided, s: _Say) -> tuple[str, str]:
    vi, en = _ADJUSTMENTS[e.kind]
    d = e.decision
    verdict_vi, verdict_en = ("Đồng ý", "Approved") if e.approved else ("Không đồng ý", "Refused")
    to_vi = f" đến {vi_day(e.due_on)}" if e.approved and e.due_on else ""
    to_en = f" to {en_day(e.due_on)}" if e.approved and e.due_on else ""
    return (f"{verdict_vi} đề nghị {vi}{to_vi} theo {d.number} ngày {vi_day(d.decided_on)} "
            f"của {d.decider}",
            f"{verdict_en}: {en}{to_en}, by {d.number} of {d.decider} on {en_day(d.decided_on)}")


#: The notifications service's rules (dondoc_notifications.domain.rules) in the office's
#: words; `deadline_approaching_<n>` and `report_due_soon_<n>` carry the working days before.
_RULES = {
    "deadline_approaching": ("nhiệm vụ sắp đến hạn", "deadline approaching"),
    "task_overdue": ("nhiệm vụ quá hạn", "task overdue"),
    "task_overdue_weekly": ("nhắc hằng tuần nhiệm vụ quá hạn", "weekly reminder of an overdue task"),
    "task_overdue_escalation": ("báo cáo lãnh đạo nhiệm vụ quá hạn kéo dài",
                                "overdue task escalated to the leadership"),
    "report_due_soon": ("báo cáo sắp đến hạn nộp", "report due soon"),
    "report_missing": ("chưa nộp báo cáo", "report missing"),
    "report_returned": ("báo cáo bị trả lại", "report returned"),
    "adjustment_decided": ("kết quả đề nghị điều chỉnh", "adjustment decided"),
    "daily_digest": ("tổng hợp hằng ngày", "daily digest"),
}
_CHANNELS = {Channel.EMAIL: ("thư điện tử", "email"), Channel.WEBHOOK: ("webhook", "webhook")}


def _rule_words(rule: str) -> tuple[str, str]:
    family, _, days = rule.rpartition("_")
    if family in _RULES and days.isdigit():
        vi, en = _RULES[family]
        return (f"{vi} (trước {days} ngày làm việc)", f"{en} ({days} working days before)")
    return _RULES.get(rule, (rule, rule))


def _notification_sent(e: ev.NotificationSent, s: _Say) -> tuple[str, str]:
    (rule_vi, rule_en), (by_vi, by_en) = _rule_words(e.rule), _CHANNELS[e.channel]
    return (f"Đã gửi thông báo {rule_vi} qua {by_vi} tới {e.recipient.address}",
            f"Notification ({rule_en}) sent by {by_en} to {e.recipient.address}")


def _notification_failed(e: ev.NotificationFailed, s: _Say) -> tuple[str, str]:
    (rule_vi, rule_en), (by_vi, by_en) = _rule_words(e.rule), _CHANNELS[e.channel]
    return (f"Gửi thông báo {rule_vi} qua {by_vi} thất bại sau {e.attempts} lần: {e.last_error}",
            f"Notification ({rule_en}) by {by_en} failed after {e.attempts} attempt(s): "
            f"{e.last_error}")


_WORDING: dict[type[ContractEvent], Callable[[ContractEvent, _Say], tuple[str, str]]] = {
    ev.UnitRegistered: _unit_registered, ev.UnitChanged: _unit_changed,
    ev.DirectiveIssued: _directive_issued, ev.DirectiveAmended: _directive_amended,
    ev.DirectiveRevoked: _directive_revoked,
    ev.TaskAssigned: _task_assigned, ev.TaskProgressRecorded: _task_progress,
    ev.TaskCompleted: _task_completed, ev.TaskDeadlineAdjusted: _task_adjusted,
    ev.TaskReassigned: _task_reassigned, ev.TaskWithdrawn: _task_withdrawn,
    ev.TaskOverdue: _task_overdue,
    ev.ReportRequested: _report_requested, ev.ReportSubmitted: _report_submitted,
    ev.ReportReviewed: _report_reviewed, ev.ReportOverdue: _report_overdue,
    ev.AdjustmentRequested: _adjustment_requested, ev.AdjustmentDecided: _adjustment_decided,
    ev.NotificationSent: _notification_sent, ev.NotificationFailed: _notification_failed,
}


def describe(event: ContractEvent, names: Names | None = None) -> tuple[str, str]:
    """(Vietnamese, English) sentence saying what happened, in the office's words."""
    return _WORDING[type(event)](event, _Say(names or {}))


def render(event_type: str, payload: str | bytes, names: Names | None = None) -> tuple[str, str]:
    """`describe` of a stored event (its `events` row's `event_type` and `payload`, the
    contract's serialisation): what the timeline's readers show."""
    from dondoc_contracts import BY_KEY

    return describe(BY_KEY[(event_type, 1)].model_validate_json(payload), names)


def actor_words(event: ContractEvent) -> str:
    """Who did it, as a person reads it: name (role, unit)."""
    a = event.actor
    where = a.unit_id or a.review_group
    who = a.name or a.id
    return f"{who} ({a.role.value}{', ' + where if where else ''})"
