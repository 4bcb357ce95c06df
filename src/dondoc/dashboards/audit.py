"""Kiểm toán / Audit: are the services' hash-chained logs still intact, and are signed
checkpoints still being made? From the gauges the analytics service sets when it signs a
checkpoint and when `audit verify` finishes (dondoc_platform.metrics)."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard

from dondoc.dashboards.kit import ANALYTICS, SqlQuery, board, grid, note, promql, row, series

UID = "dondoc-audit"

EXPLAINED = """
Mỗi dịch vụ ghi sự kiện vào nhật ký **móc xích băm** (h_n = SHA-256(h_{n-1} ‖ sự kiện n)); dịch
vụ phân tích định kỳ **ký điểm kiểm toán** (kích thước nhật ký, gốc Merkle, Ed25519) và
`dondoc audit verify` tính lại toàn bộ chuỗi, gốc và bảng đọc. Một sự kiện bị sửa, xoá hay đổi
thứ tự được chỉ đích danh theo dịch vụ và vị trí.

*Each service's log is hash-chained; the analytics service signs checkpoints (log size, Merkle
root) and `dondoc audit verify` recomputes everything. Alerts: DondocAuditVerifyFailing,
DondocAuditCheckpointStale (docs/OPERATIONS.md).*
"""


def build() -> Dashboard:
    dashboard = board(UID, "Kiểm toán", "kiểm toán",
                      "Điểm kiểm toán đã ký và kết quả kiểm tra toàn vẹn nhật ký. / Signed "
                      "checkpoints and log verification.", since="now-7d", refresh="1m")
    dashboard = dashboard.with_panel(note("Cách đọc / How to read this", EXPLAINED, height=5))
    dashboard = dashboard.with_row(row("Kiểm tra toàn vẹn / Verification"))
    dashboard = dashboard.with_panel(grid(
        "Kết quả kiểm tra gần nhất",
        "Theo từng nhật ký dịch vụ: 1 = toàn vẹn, 0 = phát hiện sai lệch; số phát hiện; thời "
        "điểm kiểm tra. / Per service log: last verification result, findings, when.",
        promql("max by (audited_service) (dondoc_audit_last_verify_success)", instant=True,
               ref="A"),
        promql("max by (audited_service) (dondoc_audit_last_verify_problems)", instant=True,
               ref="B"),
        promql("time() - max by (audited_service) (dondoc_audit_last_verify_timestamp_seconds)",
               instant=True, ref="C"),
        width=24, height=8,
        columns={"audited_service": "Nhật ký dịch vụ", "Value #A": "Toàn vẹn (1 = có)",
                 "Value #B": "Số phát hiện", "Value #C": "Kiểm tra cách đây"},
        units={"Value #C": "s"}).with_transformation(_merge()))
    dashboard = dashboard.with_panel(series(
        "Số phát hiện theo thời gian",
        "Số sai lệch mỗi lần kiểm tra tìm thấy (0 là bình thường). / Findings of each "
        "verification over time (0 is normal).",
        promql("max by (audited_service) (dondoc_audit_last_verify_problems)",
               "{{audited_service}}"), width=24))
    dashboard = dashboard.with_row(row("Điểm kiểm toán đã ký / Signed checkpoints"))
    dashboard = dashboard.with_panel(series(
        "Kích thước nhật ký đã ký",
        "Số sự kiện mà điểm kiểm toán gần nhất của mỗi nhật ký bao phủ; chỉ được tăng. / Log "
        "size covered by the latest signed checkpoint; it only grows.",
        promql("max by (audited_service) (dondoc_audit_last_checkpoint_size_events)",
               "{{audited_service}}"), width=12))
    dashboard = dashboard.with_panel(series(
        "Tuổi của điểm kiểm toán gần nhất",
        "Thời gian từ điểm kiểm toán gần nhất (cảnh báo khi quá 1 giờ). / Age of the latest "
        "signed checkpoint (alert above one hour).",
        promql("time() - max by (audited_service) "
               "(dondoc_audit_last_checkpoint_timestamp_seconds)", "{{audited_service}}"),
        unit="s", width=12))
    dashboard = dashboard.with_panel(grid(
        "Các điểm kiểm toán đã ký gần đây",
        "Điểm kiểm toán trong khoảng thời gian đang xem: nhật ký, kích thước, gốc Merkle, thời "
        "điểm ký (dondoc audit export xuất chúng ra tệp cho kiểm toán viên). / Signed "
        "checkpoints in the time range (from the analytics database).",
        SqlQuery("SELECT made_at, service, size, root FROM audit_checkpoints "
                 "WHERE $__timeFilter(made_at) ORDER BY made_at DESC, service LIMIT 200"),
        source=ANALYTICS, width=24, height=9,
        columns={"made_at": "Thời điểm ký", "service": "Nhật ký dịch vụ",
                 "size": "Số sự kiện", "root": "Gốc Merkle (hex)"}))
    dashboard = dashboard.with_panel(series(
        "Lần từ chối ký (chuỗi băm không khớp)",
        "Số lần bộ ký từ chối một nhật ký vì sự kiện không khớp chuỗi băm (phải là 0). / "
        "Checkpoint rounds refused because a log does not match its hash chain (must be 0).",
        promql("sum by (audited_service) (increase(dondoc_audit_checkpoint_failures_total[1h])) "
               "or max by (audited_service) (dondoc_audit_last_checkpoint_size_events) * 0",
               "{{audited_service}}"), width=24))
    return dashboard


def _merge():  # noqa: ANN202 - a transformation model
    from grafana_foundation_sdk.models.dashboard import DataTransformerConfig

    return DataTransformerConfig(id_val="merge", options={})
