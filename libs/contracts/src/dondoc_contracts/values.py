"""Value objects shared by several events."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dondoc_contracts.base import Identifier, LongText, ShortText, Text


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class DirectiveKind(StrEnum):
    KET_LUAN = "ket_luan"                      # Kết luận
    THONG_BAO_KET_LUAN = "thong_bao_ket_luan"  # Thông báo kết luận
    CHI_THI = "chi_thi"                        # Chỉ thị
    NGHI_QUYET = "nghi_quyet"                  # Nghị quyết
    KE_HOACH = "ke_hoach"                      # Kế hoạch
    CONG_VAN = "cong_van"                      # Công văn
    KHAC = "khac"                              # other


class Secrecy(StrEnum):
    THUONG = "thuong"        # ordinary
    MAT = "mat"              # mật
    TOI_MAT = "toi_mat"      # tối mật
    TUYET_MAT = "tuyet_mat"  # tuyệt mật


class Urgency(StrEnum):
    THUONG = "thuong"      # ordinary
    KHAN = "khan"          # khẩn
    THUONG_KHAN = "thuong_khan"  # thượng khẩn
    HOA_TOC = "hoa_toc"    # hỏa tốc


class DeadlineKind(StrEnum):
    DATE = "date"                      # a fixed day
    WORKING_DAYS = "working_days"      # N working days after assignment
    CALENDAR_DAYS = "calendar_days"    # N calendar days after assignment
    NONE = "none"                      # standing task, no deadline (thường xuyên)
    RECURRING = "recurring"            # recurring, with a report frequency


class Frequency(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half_yearly"
    YEARLY = "yearly"


class DeadlineRule(Frozen):
    kind: DeadlineKind
    due_on: date | None = None
    days: int | None = Field(None, ge=1, le=3650)
    frequency: Frequency | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DeadlineRule:
        if self.kind is DeadlineKind.DATE and self.due_on is None:
            raise ValueError("a 'date' deadline needs due_on")
        if self.kind in (DeadlineKind.WORKING_DAYS, DeadlineKind.CALENDAR_DAYS) and not self.days:
            raise ValueError(f"a '{self.kind.value}' deadline needs days")
        if self.kind is DeadlineKind.RECURRING and self.frequency is None:
            raise ValueError("a 'recurring' deadline needs a frequency")
        return self

    @property
    def has_deadline(self) -> bool:
        return self.kind in (DeadlineKind.DATE, DeadlineKind.WORKING_DAYS, DeadlineKind.CALENDAR_DAYS)


class DirectiveItem(Frozen):
    """One item (đầu việc) of a directive, with its assignment."""

    item_id: Identifier = Field(description="Stable id of the item within its directive")
    paragraph: ShortText = Field(description="Paragraph reference, e.g. '2.a'")
    text: LongText
    lead_unit_id: Identifier | None = Field(
        None, description="Exactly one lead unit for an assigned item; none for an unassigned one")
    cooperating_unit_ids: tuple[Identifier, ...] = ()
    deadline: DeadlineRule = DeadlineRule(kind=DeadlineKind.NONE)
    domain: ShortText | None = Field(None, description="Lĩnh vực")
    review_group: ShortText | None = Field(None, description="Nhóm rà soát (canonical name)")
    key_task: bool = Field(False, description="A key task / key project (trọng điểm)")
    product: Text | None = Field(None, description="Required product (sản phẩm)")


class AdjustmentKind(StrEnum):
    EXTEND = "extend"      # gia hạn / lùi
    STRETCH = "stretch"    # giãn
    WITHDRAW = "withdraw"  # rút


class Decision(Frozen):
    """A recorded decision of the assigning body: the only way a deadline changes."""

    number: ShortText
    decided_on: date
    decider: ShortText = Field(description="Who decided, e.g. 'Thường trực Tỉnh ủy'")


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    HALF_YEAR = "half_year"
    YEAR = "year"
    AD_HOC = "ad_hoc"


class Period(Frozen):
    kind: PeriodKind
    label: ShortText = Field(description="e.g. '2018', 'Quý I/2019'")
    starts_on: date
    ends_on: date


class ClaimedStatus(StrEnum):
    COMPLETED = "completed"
    IN_PROGRESS = "in_progress"
    NOT_STARTED = "not_started"


class Proposal(StrEnum):
    NONE = "none"
    EXTEND = "extend"
    ADJUST = "adjust"
    WITHDRAW = "withdraw"


class ReportLine(Frozen):
    """A unit's answer for one task in its self-review report."""

    task_id: Identifier
    status_claimed: ClaimedStatus
    progress: LongText = ""
    evidence: Text | None = None
    delay_reason: Text | None = None
    proposal: Proposal = Proposal.NONE
    proposed_due_on: date | None = None
    recommendation: Text | None = None
    completed_on: date | None = Field(None, description="Completion day the unit claims")


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    RETURNED = "returned"


class Quality(StrEnum):
    SPECIFIC = "specific"  # cụ thể
    GENERIC = "generic"    # chung chung


class Effectiveness(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NOT_ASSESSED = "not_assessed"


class LineAssessment(Frozen):
    task_id: Identifier
    verdict: Verdict
    quality: Quality
    effectiveness: Effectiveness = Effectiveness.NOT_ASSESSED
    comment: Text | None = None
    completion_confirmed: bool = Field(
        False, description="The review team accepts the unit's 'completed' claim")
    completed_on: date | None = None


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class Recipient(Frozen):
    unit_id: Identifier | None = None
    kind: ShortText = Field(description="lead_unit, cooperating_unit, office, leadership")
    address: ShortText


class Subject(Frozen):
    """What a notification is about."""

    task_id: Identifier | None = None
    report_id: Identifier | None = None
    directive_number: ShortText | None = None
    due_on: date | None = None


class Notice(Frozen):
    """One notice carried by a daily digest: which rule, about what."""

    rule: ShortText
    about: Subject
