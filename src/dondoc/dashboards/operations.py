"""Vận hành / Operations: is every service up, answering, keeping up with its events; what
failed and why; and the office's live picture (tasks and reports) as the services see it.
Prometheus only; `$service` narrows every panel to some services."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dondoc.dashboards.kit import (
    SUITE,
    bars,
    board,
    grid,
    prometheus_variable,
    promql,
    row,
    series,
)

UID = "dondoc-operations"
S = 'service=~"$service"'
RATE = "$__rate_interval"


def _or_zero(expr: str, zero_of: str) -> str:
    """`expr`, or 0 for every service that has none of it yet (a counter that never
    counted has no series: the panel shows 0 rather than nothing)."""
    return f"({expr}) or ({zero_of} * 0)"


def build() -> Dashboard:
    dashboard = (
        board(UID, "Vận hành", "vận hành",
              "Tình trạng các dịch vụ, luồng sự kiện, lỗi và bức tranh công việc trực tiếp. / "
              "Service health, the event pipeline, errors and the live picture.",
              since="now-6h", refresh="30s")
        .with_variable(prometheus_variable(
            "service", "Dịch vụ", f'label_values(up{{service=~"{SUITE}"}}, service)',
            all_value=SUITE))
    )
    up_by_service = f"max by (service) (up{{{S}}})"

    dashboard = dashboard.with_row(row("Tình trạng dịch vụ / Service health"))
    dashboard = dashboard.with_panel(grid(
        "Tiến trình đang chạy",
        "Mỗi API và worker mà Prometheus thu thập: 1 = đang chạy, 0 = không phản hồi. / "
        "Every API and worker Prometheus scrapes: 1 up, 0 down.",
        promql(f'up{{{S}}}', instant=True), width=8, height=8,
        columns={"service": "Dịch vụ", "role": "Vai trò", "instance": "Địa chỉ",
                 "Value": "Đang chạy"}))
    dashboard = dashboard.with_panel(series(
        "Yêu cầu HTTP mỗi giây",
        "Yêu cầu tới API của từng dịch vụ (trừ /metrics, /healthz, /readyz). / HTTP requests "
        "per second by service.",
        promql(f"sum by (service) (rate(dondoc_http_requests_total{{{S}}}[{RATE}]))", "{{service}}"),
        unit="reqps", width=8))
    requests = f"sum by (service) (rate(dondoc_http_requests_total{{{S}}}[{RATE}]))"
    dashboard = dashboard.with_panel(series(
        "Tỷ lệ lỗi máy chủ (5xx)",
        "Phần yêu cầu kết thúc bằng lỗi 5xx (cảnh báo DondocServerErrors từ 5%). / Share of "
        "requests answered with a 5xx.",
        promql("(" + _or_zero(
            f'sum by (service) (rate(dondoc_http_requests_total{{{S},status=~"5.."}}[{RATE}]))',
            requests) + f") / {requests}", "{{service}}"),
        unit="percentunit", width=8))
    dashboard = dashboard.with_panel(series(
        "Thời gian phản hồi (p95)",
        "95% yêu cầu được trả lời trong thời gian này. / 95th percentile of the HTTP response "
        "time.",
        promql("histogram_quantile(0.95, sum by (service, le) (rate("
               f"dondoc_http_request_duration_seconds_bucket{{{S}}}[{RATE}])))", "{{service}}"),
        unit="s", width=12))
    dashboard = dashboard.with_panel(series(
        "Bộ nhớ của tiến trình",
        "Bộ nhớ thường trú của mỗi tiến trình. / Resident memory of each process.",
        promql(f"process_resident_memory_bytes{{{S}}}", "{{service}} {{role}} {{instance}}"),
        unit="bytes", width=12))

    dashboard = dashboard.with_row(row("Lệnh / Commands"))
    dashboard = dashboard.with_panel(series(
        "Lệnh theo kết quả",
        "Lệnh được chấp nhận, bị từ chối (lỗi nghiệp vụ có lý do) hoặc thất bại. / Commands "
        "accepted, rejected (a domain rule, with its reason) or failed.",
        promql(f"sum by (service, outcome) (rate(dondoc_commands_total{{{S}}}[{RATE}]))",
               "{{service}} {{outcome}}"), unit="ops", width=8, stacked=True))
    dashboard = dashboard.with_panel(grid(
        "Lệnh bị từ chối theo lý do",
        "Số lệnh bị từ chối trong khoảng thời gian đang xem, theo lệnh và mã lý do. / Commands "
        "rejected in the time range, by command and reason code.",
        promql(f'sum by (service, command, reason) (increase(dondoc_commands_total{{{S},'
               'outcome!="accepted"}[$__range]))', instant=True),
        width=8, height=8,
        columns={"service": "Dịch vụ", "command": "Lệnh", "reason": "Lý do", "Value": "Số lần"}))
    dashboard = dashboard.with_panel(series(
        "Thời gian xử lý lệnh (p95)",
        "95% lệnh được xử lý trong thời gian này. / 95th percentile of command handling time.",
        promql("histogram_quantile(0.95, sum by (service, command, le) (rate("
               f"dondoc_command_duration_seconds_bucket{{{S}}}[{RATE}])))",
               "{{service}} {{command}}"), unit="s", width=8))

    dashboard = dashboard.with_row(row("Luồng sự kiện / Event pipeline"))
    dashboard = dashboard.with_panel(series(
        "Sự kiện phát lên Kafka",
        "Sự kiện công khai bộ chuyển tiếp outbox đã phát mỗi giây. / Public events the outbox "
        "relays published per second.",
        promql(f"sum by (service) (rate(dondoc_outbox_published_events_total{{{S}}}[{RATE}]))",
               "{{service}}"), unit="ops", width=8))
    dashboard = dashboard.with_panel(series(
        "Outbox: sự kiện chờ phát",
        "Sự kiện đã ghi vào kho nhưng chưa lên Kafka. / Recorded events not yet on Kafka.",
        promql(f"max by (service) (dondoc_outbox_lag_events{{{S}}})", "{{service}}"), width=8))
    dashboard = dashboard.with_panel(series(
        "Outbox: tuổi của sự kiện chờ lâu nhất",
        "Cảnh báo DondocOutboxRelayStuck khi quá 5 phút. / Age of the oldest unpublished event "
        "(alert above 5 minutes).",
        promql(f"max by (service) (dondoc_outbox_lag_seconds{{{S}}})", "{{service}}"),
        unit="s", width=8))
    dashboard = dashboard.with_panel(series(
        "Độ trễ tiêu thụ (tin nhắn)",
        "Tin nhắn trên Kafka mà nhóm tiêu thụ chưa xác nhận (offset cuối trừ offset đã "
        "commit). / Messages a consumer group has not committed yet.",
        promql(f"max by (group, topic) (dondoc_kafka_consumer_lag_messages{{{S}}})",
               "{{group}} ← {{topic}}"), width=8))
    dashboard = dashboard.with_panel(series(
        "Độ trễ tiêu thụ (giây)",
        "Tuổi của tin nhắn cũ nhất đang chờ nhóm tiêu thụ (theo thời điểm phát lên Kafka). / "
        "Age of the oldest message a group has not committed.",
        promql(f"max by (group, topic) (dondoc_kafka_consumer_lag_seconds{{{S}}})",
               "{{group}} ← {{topic}}"), unit="s", width=8))
    dashboard = dashboard.with_panel(series(
        "Độ trễ bảng đọc của dịch vụ",
        "Sự kiện trong nhật ký của dịch vụ chưa được áp dụng vào bảng đọc của nó (bảng nhiệm "
        "vụ, danh mục văn bản). / Events of a service's log its own read models have not "
        "applied yet.",
        promql(f"max by (service, consumer) (dondoc_projection_lag_events{{{S}}})",
               "{{service}} {{consumer}}"), width=8))
    dashboard = dashboard.with_panel(series(
        "Tin nhắn Kafka đã xử lý",
        "Theo bộ đếm của FastStream: tin nhắn mỗi giây theo dịch vụ và kết quả. / Kafka "
        "messages handled per second (FastStream's middleware), by outcome.",
        promql("sum by (app_name, status) (rate(faststream_received_processed_messages_total"
               f'{{{S}}}[{RATE}]))', "{{app_name}} {{status}}"), unit="ops", width=8))
    dashboard = dashboard.with_panel(series(
        "Thời gian xử lý một lô tin nhắn (p95)",
        "95% lô tin nhắn được xử lý (ghi hiệu ứng và vị trí) trong thời gian này. / 95th "
        "percentile of the time to handle one batch of messages.",
        promql("histogram_quantile(0.95, sum by (app_name, le) (rate("
               f"faststream_received_processed_messages_duration_seconds_bucket{{{S}}}[{RATE}])))",
               "{{app_name}}"), unit="s", width=8))
    dashboard = dashboard.with_panel(series(
        "Sự kiện áp dụng và trùng lặp bỏ qua",
        "Sự kiện đã tiêu thụ được áp dụng, và sự kiện gửi lại được bỏ qua vì đã áp dụng "
        "(không áp dụng hai lần). / Consumed events applied, and redeliveries skipped.",
        promql(f"sum by (consumer) (rate(dondoc_inbox_applied_events_total{{{S}}}[{RATE}]))",
               "{{consumer}} áp dụng / applied"),
        promql(_or_zero(
            f"sum by (consumer) (rate(dondoc_inbox_redeliveries_skipped_total{{{S}}}[{RATE}]))",
            f"sum by (consumer) (rate(dondoc_inbox_applied_events_total{{{S}}}[{RATE}]))"),
            "{{consumer}} bỏ qua / skipped", ref="B"), unit="ops", width=8))

    dashboard = dashboard.with_row(row("Lỗi / Errors"))
    dashboard = dashboard.with_panel(grid(
        "Thư chết theo lý do",
        "Tin nhắn bị chuyển sang <topic>.dlq trong khoảng thời gian đang xem, theo bên tiêu "
        "thụ và lý do (cảnh báo DondocDeadLettersAppearing). / Messages sent to a dead-letter "
        "topic in the time range, by consumer and reason.",
        promql(f"sum by (service, consumer, reason) (increase(dondoc_dead_letters_total{{{S}}}"
               "[$__range]))", instant=True), width=8, height=8,
        columns={"service": "Dịch vụ", "consumer": "Bên tiêu thụ", "reason": "Lý do",
                 "Value": "Số tin nhắn"}))
    dashboard = dashboard.with_panel(series(
        "Thư chết theo thời gian",
        "Tin nhắn vào hàng thư chết mỗi phút. / Dead letters per minute.",
        promql(_or_zero(
            f"sum by (consumer) (increase(dondoc_dead_letters_total{{{S}}}[1m]))",
            f"sum by (consumer) (increase(dondoc_inbox_applied_events_total{{{S}}}[1m]))"),
            "{{consumer}}"), width=8))
    dashboard = dashboard.with_panel(series(
        "Lỗi bộ chuyển tiếp và lần thử lại",
        "Lô outbox lỗi (thử lại, không bỏ qua) và hiệu ứng tiêu thụ phải thử lại. / Relay "
        "batches that failed and consumer effects retried.",
        promql(_or_zero(f"sum by (service) (increase(dondoc_outbox_errors_total{{{S}}}[5m]))",
                        f"max by (service) (dondoc_outbox_lag_events{{{S}}})"),
               "{{service}} outbox"),
        promql(_or_zero(f"sum by (consumer) (increase(dondoc_inbox_retries_total{{{S}}}[5m]))",
                        f"sum by (consumer) (dondoc_inbox_applied_events_total{{{S}}})"),
               "{{consumer}} thử lại / retries", ref="B"), width=8))

    dashboard = dashboard.with_row(row("Bức tranh công việc hôm nay / The office today"))
    open_tasks = "max by (status, lead_unit, review_group) (dondoc_tasks_open_tasks)"
    overdue = "max by (ageing, lead_unit, review_group) (dondoc_tasks_overdue_tasks)"
    dashboard = dashboard.with_panel(bars(
        "Nhiệm vụ đang mở theo tình trạng",
        "Nhiệm vụ chưa hoàn thành, chưa rút, theo tình trạng hôm nay: còn trong hạn, quá hạn, "
        "không có thời hạn (docs/metrics.md). / Open tasks by status today.",
        promql(f"sum by (status) ({open_tasks})", "{{status}}", instant=True), width=6))
    dashboard = dashboard.with_panel(bars(
        "Nhiệm vụ quá hạn theo số ngày quá hạn",
        "Nhiệm vụ đang quá hạn theo số ngày quá hạn so với thời hạn hiệu lực: 1–30, 31–90, "
        "91–120, trên 120 ngày. / Open overdue tasks by days past the effective deadline.",
        promql(f"sum by (ageing) ({overdue})", "{{ageing}}", instant=True), width=6,
        thresholds=[(None, "orange")]))
    dashboard = dashboard.with_panel(bars(
        "Quá hạn theo đơn vị chủ trì",
        "15 đơn vị chủ trì có nhiều nhiệm vụ quá hạn nhất hôm nay. / The 15 lead units with "
        "the most overdue tasks today.",
        promql(f"topk(15, sum by (lead_unit) ({overdue}))", "{{lead_unit}}", instant=True),
        width=6, height=10, thresholds=[(None, "red")]))
    dashboard = dashboard.with_panel(bars(
        "Quá hạn theo nhóm rà soát",
        "Nhiệm vụ quá hạn theo nhóm rà soát của nhiệm vụ. / Overdue tasks by review group.",
        promql(f"sum by (review_group) ({overdue})", "{{review_group}}", instant=True),
        width=6, height=10, thresholds=[(None, "red")]))
    dashboard = dashboard.with_panel(series(
        "Nhiệm vụ quá hạn theo thời gian",
        "Tổng nhiệm vụ đang quá hạn (cảnh báo DondocOverdueTasksSurge khi tăng từ 10 trong "
        "một ngày). / Open overdue tasks over time.",
        promql(f"sum by (ageing) ({overdue})", "{{ageing}}"), width=12, stacked=True))
    dashboard = dashboard.with_panel(bars(
        "Nhiệm vụ trọng tâm đang mở",
        "Nhiệm vụ trọng tâm chưa hoàn thành theo tình trạng. / Open key tasks by status.",
        promql("sum by (status) (max by (status) (dondoc_tasks_open_key_tasks))", "{{status}}",
               instant=True), width=6))
    dashboard = dashboard.with_panel(bars(
        "Báo cáo đang chờ",
        "Báo cáo chưa nộp: chưa đến hạn (pending) và đã quá hạn mà chưa nộp (missing). / "
        "Reports not submitted yet: pending, and missing (past their due day).",
        promql("sum by (state) (max by (state, unit, review_group) "
               "(dondoc_reports_awaited_reports))", "{{state}}", instant=True), width=6))

    dashboard = dashboard.with_row(row("Thông báo / Notifications"))
    sent = "sum by (channel) (increase(dondoc_notifications_sent_total[1h]))"
    dashboard = dashboard.with_panel(series(
        "Thông báo đã gửi và thất bại theo kênh (mỗi giờ)",
        "Thông báo đã gửi (e-mail, webhook) và thông báo thất bại hẳn sau các lần thử lại. / "
        "Notices delivered, and notices that failed for good, per hour and channel.",
        promql(sent, "{{channel}} đã gửi / sent"),
        promql(_or_zero("sum by (channel) (increase(dondoc_notifications_failed_total[1h]))",
                        sent), "{{channel}} thất bại / failed", ref="B"), width=12))
    dashboard = dashboard.with_panel(series(
        "Lần gửi lỗi sẽ thử lại",
        "Lần gửi không thành (máy chủ thư, webhook không trả lời) sẽ được thử lại. / Delivery "
        "attempts that failed and will be retried.",
        promql(_or_zero(
            "sum by (channel) (increase(dondoc_notifications_attempt_failures_total[5m]))",
            "sum by (channel) (increase(dondoc_notifications_sent_total[5m]))"), "{{channel}}"),
        width=6))
    dashboard = dashboard.with_panel(grid(
        "Kênh gửi",
        "1 = kênh hoạt động ở lần dùng gần nhất, 0 = đang lỗi. / 1 when the channel worked at "
        "its last use, 0 while it is down.",
        promql("max by (channel) (dondoc_notifications_channel_up)", instant=True),
        width=6, height=8, columns={"channel": "Kênh", "Value": "Hoạt động"}))
    return dashboard
