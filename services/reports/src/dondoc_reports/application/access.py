"""Who may see and do what on reports: the unit its own, a reviewer its review group."""

from __future__ import annotations

from dondoc_contracts import Role
from dondoc_platform.auth import Principal
from dondoc_platform.errors import forbidden
from dondoc_platform.names import match_key

READ_ALL = (Role.OFFICE, Role.LEADER, Role.AUDITOR, Role.ADMIN)


def reads_everything(principal: Principal) -> bool:
    return principal.has(*READ_ALL)


def may_read_unit(principal: Principal, unit_id: str, review_group: str | None) -> bool:
    if reads_everything(principal):
        return True
    if principal.has(Role.UNIT) and principal.unit_id == unit_id:
        return True
    return principal.has(Role.REVIEWER) and in_group(principal, review_group)


def in_group(principal: Principal, review_group: str | None) -> bool:
    return review_group is not None and match_key(principal.review_group) == match_key(review_group)


def ensure_may_read_unit(principal: Principal, unit_id: str, review_group: str | None) -> None:
    if not may_read_unit(principal, unit_id, review_group):
        raise forbidden(f"Bạn không được xem dữ liệu của đơn vị {unit_id}",
                        f"You may not see unit {unit_id}'s data")


def ensure_own_unit(principal: Principal, unit_id: str) -> None:
    if not (principal.has(Role.UNIT) and principal.unit_id == unit_id):
        raise forbidden(f"Chỉ đơn vị {unit_id} được thực hiện việc này cho mình",
                        f"Only unit {unit_id} may do this for itself")


def ensure_may_review(principal: Principal, unit_id: str, review_group: str | None) -> None:
    if principal.has(Role.OFFICE):
        return
    if principal.has(Role.REVIEWER) and in_group(principal, review_group):
        return
    raise forbidden(f"Chỉ Văn phòng hoặc tổ rà soát của nhóm '{review_group or '—'}' được đánh giá "
                    f"báo cáo của đơn vị {unit_id}",
                    f"Only the office or the review team of group '{review_group or '-'}' may "
                    f"review unit {unit_id}'s report")
