"""Vocabularies stored in the database and shown to users; status sets are derived, not listed."""

from __future__ import annotations

from enum import StrEnum


class RequestType(StrEnum):
    CONSULTATION = "consultation"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 意见建议
    PRAISE = "praise"  # 表扬、感谢

    @property
    def label_zh(self) -> str:
        return _TYPE_ZH[self]


_TYPE_ZH = {
    RequestType.CONSULTATION: "咨询",
    RequestType.HELP: "求助",
    RequestType.COMPLAINT: "投诉",
    RequestType.REPORT: "举报",
    RequestType.SUGGESTION: "意见建议",
    RequestType.PRAISE: "表扬感谢",
}


class TicketStatus(StrEnum):
    RECEIVED = "received"  # 待受理
    ACCEPTED = "accepted"  # 已受理
    DISPATCHED = "dispatched"  # 已派单
    IN_PROGRESS = "in_progress"  # 办理中
    REPLIED = "replied"  # 已答复
    CLOSED = "closed"  # 已办结
    RETURNED = "returned"  # 已退单
    REOPENED = "reopened"  # 重新办理

    @property
    def label_zh(self) -> str:
        return _STATUS_ZH[self]


_STATUS_ZH = {
    TicketStatus.RECEIVED: "待受理",
    TicketStatus.ACCEPTED: "已受理",
    TicketStatus.DISPATCHED: "已派单",
    TicketStatus.IN_PROGRESS: "办理中",
    TicketStatus.REPLIED: "已答复",
    TicketStatus.CLOSED: "已办结",
    TicketStatus.RETURNED: "已退单",
    TicketStatus.REOPENED: "重新办理",
}


class Resolution(StrEnum):
    """How a closed ticket ended, recorded on its `closed` event as `data["resolution"]`:
    statistics count 不予受理 apart from 办结 and 直接答复."""

    DONE = "done"  # 办结
    DIRECT_ANSWER = "direct_answer"  # 直接答复
    DECLINED = "declined"  # 不予受理: the matter belongs to another channel

    @property
    def label_zh(self) -> str:
        return _RESOLUTION_ZH[self]


_RESOLUTION_ZH = {
    Resolution.DONE: "办结",
    Resolution.DIRECT_ANSWER: "直接答复",
    Resolution.DECLINED: "不予受理",
}

TERMINAL_STATUSES = frozenset({TicketStatus.CLOSED})
ACTIVE_STATUSES = frozenset(TicketStatus) - TERMINAL_STATUSES


class EventKind(StrEnum):
    RECEIVED = "received"
    FOLLOW_UP = "follow_up"
    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    RETURNED = "returned"
    REPLIED = "replied"
    CLOSED = "closed"
    REOPENED = "reopened"
    NOTE = "note"
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_GRANTED = "extension_granted"
    EXTENSION_REJECTED = "extension_rejected"
    NOTIFIED = "notified"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERY_REPORT = "delivery_report"  # the gateway's word on a sent message (delivered, …)
    RATED = "rated"
    TRIAGED = "triaged"
    STATUS_QUERY = "status_query"
    REPEAT = "repeat"  # the same citizen wrote the same thing again (判重)
    LINKED = "linked"  # another citizen's report of the same problem, under one master
    INFO_REQUESTED = "info_requested"  # staff asked the citizen: the deadline clock stops
    INFO_RECEIVED = "info_received"  # the citizen answered: the clock runs again, due moved
    CATEGORIZED = "categorized"  # staff corrected the category or type (teaches the model)
    WAIT_ENDED = "wait_ended"  # staff stopped waiting for the citizen's answer (结束等待)


# Events a citizen may see on the public timeline; everything else is staff-internal.
PUBLIC_EVENTS = frozenset(
    {
        EventKind.RECEIVED,
        EventKind.FOLLOW_UP,
        EventKind.ACCEPTED,
        EventKind.DISPATCHED,
        EventKind.REPLIED,
        EventKind.CLOSED,
        EventKind.REOPENED,
        EventKind.EXTENSION_GRANTED,
        EventKind.RATED,
        EventKind.INFO_REQUESTED,
    }
)


class Role(StrEnum):
    AGENT = "agent"  # hotline agent: accepts, answers, dispatches
    HANDLER = "handler"  # department staff: handles what was dispatched to the department
    SUPERVISOR = "supervisor"  # 督办: everything an agent does, plus approvals
    ADMIN = "admin"


class Intent(StrEnum):
    """What the core decided an inbound message means (recorded, countable)."""

    NEW_REQUEST = "new_request"
    FOLLOW_UP = "follow_up"
    STATUS_QUERY = "status_query"
    RATING = "rating"
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    EMERGENCY = "emergency"
    IGNORED = "ignored"  # events and unknown kinds: kept as messages, no ticket
