"""Lãnh đạo / Leadership: the units' timeliness year by year, as docs/metrics.md defines it,
from the analytics read models (PostgreSQL, the `analytics_*` views of
docs/services/analytics.md): scorecards by unit, review group and domain with both rates
and their definitions; the trend across years; overdue ageing; carried-over tasks; report
timeliness; the key tasks; and a unit's drill-down to its tasks and each task's history.

Variables are single values quoted in the SQL (`'$unit'`): Grafana inserts a single-value
variable as it is. `*` stands for every review group; a review group is named as the tasks
write it (the scorecards' `group_name`)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.barchart import Panel as BarChart
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from dondoc.dashboards.kit import (
    ANALYTICS,
    SqlQuery,
    big_number,
    board,
    grid,
    note,
    row,
    sql_variable,
)
from dondoc_analytics.domain.wording import EVENT_NAMES
from dondoc_tasks.domain.status import LABELS_VI, TaskStatus

UID = "dondoc-leadership"
ALL = "*"
SELF = f"/d/{UID}/dondoc-leadership"

#: An event's name in Vietnamese, in SQL: the timeline's sentences are rendered from the
#: payload when read (docs/adr/0010), which a dashboard's SQL cannot do.
EVENT_NAME_VI = "CASE e.event_type " + " ".join(
    f"WHEN '{kind}' THEN '{vi}'" for kind, (vi, _) in EVENT_NAMES.items()) + " END"

DEFINITIONS = """
**Cách tính (docs/metrics.md).** Khối lượng của đơn vị chủ trì trong năm = *giao trong năm*
(assigned) + *chuyển tiếp* (carried over: giao trước năm, đầu năm chưa hoàn thành, chưa rút).
Mỗi nhiệm vụ thuộc đúng một loại tại thời điểm tính (cuối năm, hoặc hôm nay nếu năm chưa hết):
hoàn thành đúng hạn · hoàn thành quá hạn · chưa hoàn thành còn trong hạn · chưa hoàn thành quá
hạn · không có thời hạn/thường xuyên · đã rút. Hạn là ngày D: quá hạn từ 00:00 ngày D+1 (giờ Việt
Nam); D rơi vào ngày nghỉ thì lùi sang ngày làm việc kế tiếp. Thời hạn "hiệu lực" là thời hạn
sau điều chỉnh có quyết định; cột *(gốc)* tính theo thời hạn ban đầu.

- **Tỷ lệ đúng hạn trên số đến hạn** = hoàn thành đúng hạn / (hoàn thành đúng hạn + hoàn thành
  quá hạn + chưa hoàn thành quá hạn).
- **Tỷ lệ đúng hạn trên tổng số** = hoàn thành đúng hạn / (giao + chuyển tiếp − đã rút).

Mẫu số bằng 0 thì để trống (không phải 0%, không phải 100%). Báo cáo: đúng hạn khi ngày nộp lần
đầu ≤ hạn nộp; *thiếu* khi đã qua hạn mà chưa nộp; *chưa đến hạn* khi chưa nộp và chưa qua hạn.

*Both rates are always shown with their names: on time ÷ (on time + late + open overdue), and
on time ÷ (assigned + carried over − withdrawn); empty when the denominator is 0.*
"""

#: The task scorecard's columns (metrics.md names) and their Vietnamese headers.
TASK_COLUMNS = {
    "display_name": "Đơn vị / nhóm",
    "assigned": "Giao trong năm",
    "carried_over": "Chuyển tiếp",
    "completed_on_time": "Hoàn thành đúng hạn",
    "completed_late": "Hoàn thành quá hạn",
    "open_in_time": "Chưa hoàn thành, trong hạn",
    "open_overdue": "Chưa hoàn thành, quá hạn",
    "open_no_deadline": "Không thời hạn",
    "withdrawn": "Đã rút",
    "on_time_rate_of_due": "Tỷ lệ đúng hạn / số đến hạn",
    "on_time_rate_of_all": "Tỷ lệ đúng hạn / tổng số",
    "on_time_rate_of_due_original": "Tỷ lệ đúng hạn / số đến hạn (hạn gốc)",
}
RATES = {name: "percentunit" for name in TASK_COLUMNS if "rate" in name}


def _scorecard(grouping: str, title: str, description: str, *, link_units: bool = False) -> object:
    columns = ", ".join(TASK_COLUMNS)
    where = f"grouping = '{grouping}' AND year = $year"
    if grouping == "unit":
        # a unit's review group is the one of its directory entry
        where += (f" AND ('$review_group' = '{ALL}' OR group_key IN "
                  "(SELECT unit_id FROM analytics_units WHERE review_group = '$review_group'))")
    query = SqlQuery(f"""
        SELECT group_key, {columns}
        FROM analytics_task_scorecard
        WHERE {where}
        ORDER BY on_time_rate_of_due NULLS LAST, display_name""")
    links = {"display_name": ("Xem chi tiết đơn vị ${__data.fields.display_name}",
                              f"{SELF}?var-year=$year&var-unit=${{__data.fields.group_key}}"
                              "&var-review_group=$review_group")} if link_units else None
    panel = grid(title, description, query, source=ANALYTICS, columns=TASK_COLUMNS,
                 units=RATES, links=links, height=10)
    return panel.override_by_name("group_key", [DynamicConfigValue(id_val="custom.hidden", value=True)])


def _status_names() -> dict[str, str]:
    return {status.value: LABELS_VI[status] for status in TaskStatus}


def _status_column(column: str = "status") -> str:
    cases = " ".join(f"WHEN '{value}' THEN '{label}'" for value, label in _status_names().items())
    return f"CASE {column} {cases} ELSE {column} END"


def _content() -> str:
    """A task's content for the leadership, except secret ones (secrecy above 'thuong')."""
    return "CASE WHEN secrecy = 'thuong' THEN content ELSE '(nội dung mật)' END"


def _trend_chart(title: str, description: str, query: SqlQuery) -> BarChart:
    return (BarChart().title(title).description(description).span(12).height(9)
            .datasource(ANALYTICS).with_target(query).x_field("Năm").unit("percentunit").min(0)
            .max(1).legend(_legend()))


def _legend() -> object:
    from grafana_foundation_sdk.builders.common import VizLegendOptions

    return VizLegendOptions().show_legend(True).display_mode(common.LegendDisplayMode.LIST) \
        .placement(common.LegendPlacement.BOTTOM)


def build() -> Dashboard:
    dashboard = (
        board(UID, "Lãnh đạo", "lãnh đạo",
              "Mức độ đúng hạn của các đơn vị qua các năm, theo docs/metrics.md. / The units' "
              "timeliness year by year, as docs/metrics.md defines it.",
              since="now-1y", refresh="5m")
        .with_variable(sql_variable(
            "year", "Năm",
            "SELECT DISTINCT year AS __value, CAST(year AS TEXT) AS __text "
            "FROM analytics_task_scorecard ORDER BY 1 DESC"))
        .with_variable(sql_variable(
            "review_group", "Nhóm rà soát",
            f"SELECT '{ALL}' AS __value, 'Tất cả' AS __text UNION ALL "
            "SELECT DISTINCT group_name, group_name FROM analytics_task_scorecard "
            "WHERE grouping = 'review_group' AND group_name IS NOT NULL"))
        .with_variable(sql_variable(
            "unit", "Đơn vị (chi tiết)",
            "SELECT unit_id AS __value, name AS __text FROM analytics_units "
            f"WHERE ('$review_group' = '{ALL}' OR review_group = '$review_group') ORDER BY name"))
        .with_variable(sql_variable(
            "task", "Nhiệm vụ (lịch sử)",
            "SELECT task_id AS __value, directive_number || ' — mục ' || paragraph AS __text "
            "FROM analytics_task_board WHERE lead_unit_id = '$unit' "
            "ORDER BY assigned_on DESC, directive_number, paragraph"))
    )
    dashboard = dashboard.with_panel(note("Định nghĩa các chỉ số / Definitions", DEFINITIONS,
                                          height=9))

    dashboard = dashboard.with_row(row("Bảng điểm năm $year / Scorecards"))
    office = ("FROM analytics_task_scorecard WHERE grouping = 'review_group' AND year = $year "
              f"AND ('$review_group' = '{ALL}' OR group_name = '$review_group')")
    dashboard = dashboard.with_panel(big_number(
        "Tỷ lệ đúng hạn trên số đến hạn",
        "Hoàn thành đúng hạn ÷ (đúng hạn + quá hạn + chưa hoàn thành quá hạn), toàn Văn phòng "
        "hoặc nhóm rà soát đã chọn. / On time ÷ (on time + late + open overdue).",
        SqlQuery("SELECT CASE WHEN SUM(completed_on_time + completed_late + open_overdue) = 0 "
                 "THEN NULL ELSE CAST(SUM(completed_on_time) AS FLOAT) / "
                 f"SUM(completed_on_time + completed_late + open_overdue) END AS rate {office}"),
        unit="percentunit", source=ANALYTICS,
        thresholds=[(None, "red"), (0.7, "orange"), (0.9, "green")]))
    dashboard = dashboard.with_panel(big_number(
        "Tỷ lệ đúng hạn trên tổng số",
        "Hoàn thành đúng hạn ÷ (giao + chuyển tiếp − đã rút). / On time ÷ (assigned + carried "
        "over − withdrawn).",
        SqlQuery("SELECT CASE WHEN SUM(assigned + carried_over - withdrawn) = 0 THEN NULL "
                 "ELSE CAST(SUM(completed_on_time) AS FLOAT) / "
                 f"SUM(assigned + carried_over - withdrawn) END AS rate {office}"),
        unit="percentunit", source=ANALYTICS,
        thresholds=[(None, "red"), (0.7, "orange"), (0.9, "green")]))
    dashboard = dashboard.with_panel(big_number(
        "Khối lượng năm (giao + chuyển tiếp)",
        "Nhiệm vụ giao trong năm cộng nhiệm vụ chuyển tiếp từ các năm trước. / Tasks assigned "
        "in the year plus those carried over.",
        SqlQuery(f"SELECT SUM(assigned + carried_over) AS workload {office}"),
        source=ANALYTICS))
    dashboard = dashboard.with_panel(big_number(
        "Chưa hoàn thành, quá hạn",
        "Nhiệm vụ chưa hoàn thành đã quá hạn tại thời điểm tính. / Open overdue tasks at the "
        "year's as-of moment.",
        SqlQuery(f"SELECT SUM(open_overdue) AS open_overdue {office}"),
        source=ANALYTICS, thresholds=[(None, "green"), (1, "orange"), (10, "red")]))
    dashboard = dashboard.with_panel(_scorecard(
        "unit", "Bảng điểm theo đơn vị chủ trì",
        "Mỗi đơn vị chủ trì: các loại nhiệm vụ và hai tỷ lệ (định nghĩa ở trên); nhấn tên "
        "đơn vị để xem chi tiết. / Each lead unit's figures and both rates; click a unit for "
        "its drill-down.", link_units=True))
    dashboard = dashboard.with_panel(_scorecard(
        "review_group", "Bảng điểm theo nhóm rà soát",
        "Theo nhóm rà soát của nhiệm vụ. / By the task's review group."))
    dashboard = dashboard.with_panel(_scorecard(
        "domain", "Bảng điểm theo lĩnh vực",
        "Theo lĩnh vực của nhiệm vụ. / By the task's domain."))

    dashboard = dashboard.with_row(row("Xu hướng qua các năm / Trend across years"))
    trend = ("SELECT CAST(year AS TEXT) AS \"Năm\", "
             "CASE WHEN SUM(completed_on_time + completed_late + open_overdue) = 0 THEN NULL "
             "ELSE CAST(SUM(completed_on_time) AS FLOAT) / "
             "SUM(completed_on_time + completed_late + open_overdue) END "
             "AS \"Tỷ lệ đúng hạn / số đến hạn\", "
             "CASE WHEN SUM(assigned + carried_over - withdrawn) = 0 THEN NULL "
             "ELSE CAST(SUM(completed_on_time) AS FLOAT) / SUM(assigned + carried_over - withdrawn) "
             "END AS \"Tỷ lệ đúng hạn / tổng số\" FROM analytics_task_scorecard ")
    dashboard = dashboard.with_panel(_trend_chart(
        "Tỷ lệ đúng hạn toàn Văn phòng (hoặc nhóm rà soát đã chọn) qua các năm",
        "Hai tỷ lệ đúng hạn của mỗi năm, tính tại cuối năm (năm nay: hôm nay). / Both rates, "
        "each year as of its end.",
        SqlQuery(trend + "WHERE grouping = 'review_group' AND "
                 f"('$review_group' = '{ALL}' OR group_name = '$review_group') "
                 "GROUP BY year ORDER BY year")))
    dashboard = dashboard.with_panel(_trend_chart(
        "Tỷ lệ đúng hạn của đơn vị $unit qua các năm",
        "Hai tỷ lệ đúng hạn của đơn vị đã chọn qua các năm. / The selected unit's rates year "
        "by year.",
        SqlQuery(trend + "WHERE grouping = 'unit' AND group_key = '$unit' "
                 "GROUP BY year ORDER BY year")))

    dashboard = dashboard.with_row(row("Quá hạn và chuyển tiếp / Overdue and carried over"))
    dashboard = dashboard.with_panel(grid(
        "Tuổi quá hạn theo đơn vị, năm $year",
        "Nhiệm vụ chưa hoàn thành quá hạn theo số ngày quá hạn tại thời điểm tính: 1–30, "
        "31–90, 91–120, trên 120 ngày. / Open overdue tasks by days past the deadline.",
        SqlQuery("SELECT display_name, overdue_1_30, overdue_31_90, overdue_91_120, "
                 "overdue_over_120, open_overdue FROM analytics_task_scorecard "
                 "WHERE grouping = 'unit' AND year = $year AND open_overdue > 0 "
                 "ORDER BY overdue_over_120 DESC, open_overdue DESC"),
        source=ANALYTICS, width=12,
        columns={"display_name": "Đơn vị chủ trì", "overdue_1_30": "1–30 ngày",
                 "overdue_31_90": "31–90 ngày", "overdue_91_120": "91–120 ngày",
                 "overdue_over_120": "Trên 120 ngày", "open_overdue": "Tổng quá hạn"}))
    dashboard = dashboard.with_panel(grid(
        "Nhiệm vụ chuyển tiếp vào năm $year",
        "Nhiệm vụ giao trước năm $year mà đầu năm chưa hoàn thành, chưa rút; tình trạng hôm "
        "nay. / Tasks carried over into the year and where they stand today.",
        SqlQuery("SELECT u.name AS unit_name, b.directive_number, b.paragraph, "
                 f"{_content()} AS content, b.assigned_on, b.due_on, "
                 f"{_status_column('b.status')} AS status, b.days_overdue "
                 "FROM analytics_task_board b JOIN analytics_units u ON u.unit_id = b.lead_unit_id "
                 "WHERE EXTRACT(YEAR FROM b.assigned_on) < $year "
                 "AND (b.terminal_on IS NULL OR EXTRACT(YEAR FROM b.terminal_on) >= $year) "
                 f"AND ('$review_group' = '{ALL}' OR b.review_group = '$review_group') "
                 "ORDER BY b.days_overdue DESC NULLS LAST, b.assigned_on LIMIT 500"),
        source=ANALYTICS, width=12,
        columns={"unit_name": "Đơn vị chủ trì", "directive_number": "Văn bản",
                 "paragraph": "Mục", "content": "Nội dung", "assigned_on": "Ngày giao",
                 "due_on": "Hạn", "status": "Tình trạng", "days_overdue": "Số ngày quá hạn"}))

    dashboard = dashboard.with_row(row("Báo cáo và nhiệm vụ trọng tâm / Reports and key tasks"))
    dashboard = dashboard.with_panel(grid(
        "Mức độ đúng hạn của báo cáo, năm $year",
        "Báo cáo đến hạn trong năm: nộp đúng hạn, nộp muộn, thiếu (qua hạn chưa nộp), chưa "
        "đến hạn; bên cạnh là kết quả rà soát (không tính vào đúng hạn). / Report timeliness; "
        "the review verdicts beside it.",
        SqlQuery("SELECT display_name, reports_due, reports_on_time, reports_late, "
                 "reports_missing, reports_pending, reports_accepted, reports_returned "
                 "FROM analytics_report_scorecard WHERE year = $year "
                 f"AND ('$review_group' = '{ALL}' OR group_key IN (SELECT unit_id FROM "
                 "analytics_units WHERE review_group = '$review_group')) "
                 "ORDER BY reports_missing DESC, display_name"),
        source=ANALYTICS, width=12,
        columns={"display_name": "Đơn vị", "reports_due": "Đến hạn", "reports_on_time": "Đúng hạn",
                 "reports_late": "Muộn", "reports_missing": "Thiếu",
                 "reports_pending": "Chưa đến hạn", "reports_accepted": "Đạt (rà soát)",
                 "reports_returned": "Trả lại (rà soát)"}))
    dashboard = dashboard.with_panel(grid(
        "Nhiệm vụ trọng tâm",
        "Các nhiệm vụ trọng tâm và tình trạng hôm nay, quá hạn lâu nhất trước. / Key tasks "
        "and where they stand today, longest overdue first.",
        SqlQuery("SELECT b.directive_number, b.paragraph, "
                 f"{_content()} AS content, u.name AS unit_name, b.due_on, "
                 f"{_status_column('b.status')} AS status, b.days_overdue "
                 "FROM analytics_task_board b JOIN analytics_units u ON u.unit_id = b.lead_unit_id "
                 "WHERE b.key_task "
                 f"AND ('$review_group' = '{ALL}' OR b.review_group = '$review_group') "
                 "ORDER BY b.days_overdue DESC NULLS LAST, b.due_on NULLS LAST LIMIT 500"),
        source=ANALYTICS, width=12,
        columns={"directive_number": "Văn bản", "paragraph": "Mục", "content": "Nội dung",
                 "unit_name": "Đơn vị chủ trì", "due_on": "Hạn", "status": "Tình trạng",
                 "days_overdue": "Số ngày quá hạn"}))

    dashboard = dashboard.with_row(row("Chi tiết đơn vị / Unit drill-down"))
    dashboard = dashboard.with_panel(grid(
        "Đơn vị $unit qua các năm",
        "Bảng điểm của đơn vị đã chọn, mỗi năm tại cuối năm (năm nay: hôm nay). / The selected "
        "unit's scorecard year by year.",
        SqlQuery("SELECT year, assigned, carried_over, completed_on_time, completed_late, "
                 "open_in_time, open_overdue, open_no_deadline, withdrawn, on_time_rate_of_due, "
                 "on_time_rate_of_all, on_time_rate_of_due_original FROM analytics_task_scorecard "
                 "WHERE grouping = 'unit' AND group_key = '$unit' ORDER BY year"),
        source=ANALYTICS, width=24, height=8,
        columns={"year": "Năm", **{k: v for k, v in TASK_COLUMNS.items() if k != "display_name"}},
        units=RATES))
    dashboard = dashboard.with_panel(grid(
        "Nhiệm vụ của đơn vị $unit",
        "Các nhiệm vụ đơn vị chủ trì, tình trạng hôm nay; nhấn một nhiệm vụ để xem lịch sử. / "
        "The unit's tasks today; click one for its history.",
        SqlQuery("SELECT task_id, directive_number, paragraph, "
                 f"{_content()} AS content, assigned_on, due_on, original_due_on, "
                 f"{_status_column()} AS status, days_overdue, key_task "
                 "FROM analytics_task_board WHERE lead_unit_id = '$unit' "
                 "ORDER BY (status = 'open_overdue') DESC, days_overdue DESC NULLS LAST, "
                 "assigned_on DESC LIMIT 1000"),
        source=ANALYTICS, width=24, height=10,
        columns={"directive_number": "Văn bản", "paragraph": "Mục", "content": "Nội dung",
                 "assigned_on": "Ngày giao", "due_on": "Hạn hiệu lực", "original_due_on": "Hạn gốc",
                 "status": "Tình trạng", "days_overdue": "Số ngày quá hạn",
                 "key_task": "Trọng tâm"},
        links={"directive_number": (
            "Lịch sử nhiệm vụ",
            f"{SELF}?var-year=$year&var-unit=$unit&var-review_group=$review_group"
            "&var-task=${__data.fields.task_id}")})
        .override_by_name("task_id", [DynamicConfigValue(id_val="custom.hidden", value=True)]))
    dashboard = dashboard.with_panel(grid(
        "Lịch sử nhiệm vụ $task",
        "Mọi sự kiện của nhiệm vụ theo thứ tự nghiệp vụ: ai, làm gì, khi nào (câu mô tả đầy đủ: "
        "`dondoc history`). / Every event of the task in business order: who did what, when "
        "(the full sentences: `dondoc history`).",
        SqlQuery("SELECT e.business_day, e.occurred_at, e.actor_name, e.actor_role, "
                 f"{EVENT_NAME_VI} AS event_name, "
                 "e.service, e.position FROM analytics_events e "
                 "WHERE e.task_id = '$task' OR e.event_id IN "
                 "(SELECT event_id FROM analytics_event_tasks WHERE task_id = '$task') "
                 "ORDER BY e.business_day, e.occurred_at, e.topic, e.partition, e.kafka_offset"),
        source=ANALYTICS, width=24, height=10,
        columns={"business_day": "Ngày", "occurred_at": "Thời điểm ghi", "actor_name": "Người",
                 "actor_role": "Vai trò", "event_name": "Sự kiện", "service": "Dịch vụ",
                 "position": "Vị trí trong nhật ký"}))
    dashboard = dashboard.with_panel(grid(
        "Hoạt động của đơn vị $unit trong khoảng thời gian đang xem",
        "Các sự kiện về đơn vị hoặc nhiệm vụ của đơn vị, mới nhất trước. / Events about the "
        "unit or its tasks in the selected time range, newest first.",
        SqlQuery("SELECT e.occurred_at AS time, e.business_day, e.actor_name, "
                 f"{EVENT_NAME_VI} AS event_name "
                 "FROM analytics_events e WHERE $__timeFilter(e.occurred_at) AND "
                 "(e.unit_id = '$unit' OR e.task_id IN (SELECT task_id FROM analytics_task_board "
                 "WHERE lead_unit_id = '$unit')) ORDER BY e.occurred_at DESC LIMIT 500"),
        source=ANALYTICS, width=24, height=10,
        columns={"time": "Thời điểm", "business_day": "Ngày nghiệp vụ", "actor_name": "Người",
                 "event_name": "Sự kiện"}))
    return dashboard
