"""Errors a person can act on, in Vietnamese and English, with the field at fault."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any


@dataclass
class DomainError(Exception):
    """A refused command or query: nothing was recorded.

    `status` is the HTTP status (422 invalid, 404 unknown, 409 conflict, 403 forbidden).
    """

    code: str
    message_vi: str
    message_en: str
    field: str | None = None
    status: int = 422
    details: list[dict[str, Any]] = dc_field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message_en)

    def body(self, language: str = "vi") -> dict[str, Any]:
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message_vi if language == "vi" else self.message_en,
            "message_vi": self.message_vi,
            "message_en": self.message_en,
        }
        if self.field:
            error["field"] = self.field
        if self.details:
            error["details"] = self.details
        return {"error": error}


def not_found(what_vi: str, what_en: str, ident: str, field: str | None = None) -> DomainError:
    return DomainError("not_found", f"Không tìm thấy {what_vi} {ident}",
                       f"{what_en} {ident} not found", field=field, status=404)


def forbidden(reason_vi: str, reason_en: str) -> DomainError:
    return DomainError("forbidden", reason_vi, reason_en, status=403)


def lead_also_cooperating(unit_id: str, field: str) -> DomainError:
    """A task has one lead unit; naming it among the cooperating units too is a contradiction
    the office should see (it was silently dropped), not a guess made for it."""
    return DomainError("lead_also_cooperating",
                       f"Đơn vị {unit_id} đã là đơn vị chủ trì, không đồng thời là đơn vị phối hợp",
                       f"Unit {unit_id} is the lead unit; it cannot also be a cooperating unit",
                       field=field)


def conflict(code: str, reason_vi: str, reason_en: str, field: str | None = None) -> DomainError:
    return DomainError(code, reason_vi, reason_en, field=field, status=409)


# Vietnamese for pydantic's error types (the English is pydantic's own message)
_VI = {
    "missing": "thiếu trường bắt buộc",
    "string_too_long": "quá dài",
    "string_too_short": "không được để trống",
    "string_blank": "không được để trống (chỉ có dấu cách)",
    "too_short": "phải có ít nhất một mục",
    "too_long": "có quá nhiều mục",
    "string_pattern_mismatch": "sai định dạng",
    "date_from_datetime_parsing": "ngày không hợp lệ (YYYY-MM-DD)",
    "date_parsing": "ngày không hợp lệ (YYYY-MM-DD)",
    "date_type": "ngày không hợp lệ (YYYY-MM-DD)",
    "datetime_parsing": "thời điểm không hợp lệ",
    "timezone_aware": "thời điểm phải có múi giờ",
    "enum": "giá trị không thuộc danh mục cho phép",
    "literal_error": "giá trị không thuộc danh mục cho phép",
    "int_parsing": "phải là số nguyên",
    "int_type": "phải là số nguyên",
    "bool_parsing": "phải là true hoặc false",
    "greater_than_equal": "nhỏ hơn giá trị cho phép",
    "less_than_equal": "lớn hơn giá trị cho phép",
    "extra_forbidden": "trường không được phép",
    "value_error": "giá trị không hợp lệ",
    "json_invalid": "JSON không hợp lệ",
    "model_attributes_type": "phải là một đối tượng",
    "list_type": "phải là một danh sách",
    "string_type": "phải là chuỗi ký tự",
    "uuid_parsing": "mã định danh không hợp lệ",
}


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'items', 0, 'lead_unit_id') → 'items[0].lead_unit_id'."""
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(request)"


def validation_error(errors: list[dict[str, Any]]) -> DomainError:
    details = []
    for e in errors:
        vi = _VI.get(e.get("type", ""), "giá trị không hợp lệ")
        ctx = e.get("ctx") or {}
        message_en = e.get("msg", "invalid value")
        if isinstance(e.get("input"), str) and e.get("type") in ("too_long", "too_short"):
            # a length checked after a validator (NFC) is reported as a count of "items"
            e = {**e, "type": f"string_{e['type']}"}
            message_en = (f"Text should have at most {ctx['max_length']} characters"
                          if e["type"] == "string_too_long" else "Text must not be empty")
        if e.get("type") == "string_too_long" and "max_length" in ctx:
            vi = f"quá dài (tối đa {ctx['max_length']} ký tự)"
        elif e.get("type") == "string_too_short":
            vi = _VI["string_too_short"]
        if e.get("type") == "value_error" and ctx.get("error"):
            vi = f"giá trị không hợp lệ: {ctx['error']}"
        details.append({"field": field_path(e.get("loc", ())), "message_vi": vi,
                        "message_en": message_en, "type": e.get("type")})
    first = details[0] if details else {"field": None, "message_vi": "", "message_en": ""}
    return DomainError(
        "invalid_input",
        f"Dữ liệu không hợp lệ: {first['field']}: {first['message_vi']}",
        f"Invalid input: {first['field']}: {first['message_en']}",
        field=first["field"], status=422, details=details,
    )
