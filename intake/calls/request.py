"""What an agent (or a call-centre system) says about one call, validated, and the normalized
message it becomes.

The caller's number is vouched for: the call came from it, so it joins the caller to the
citizen behind the number (`InboundMessage.vouched_phone`) and is the ticket's contact phone,
answered by SMS like every other phone. Validation messages are Chinese first.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from intake.domain.enums import RequestType
from intake.domain.errors import InvalidInput
from intake.domain.messages import (
    VOUCHED_PHONE,
    IdentityKind,
    InboundMessage,
    Location,
    MessageKind,
    SenderIdentity,
)
from intake.domain.models import Staff
from intake.domain.phones import normalize_phone
from intake.domain.text_hygiene import clean_data

CHANNEL = "phone"
# set on a call's message: who typed it in; the pipeline then leaves answering to the agent
FILED_BY = "filed_by_staff"
# set when the agent answered on the call (直接答复): the pipeline closes the new ticket with it
AGENT_ANSWER = "agent_answer"
TICKET_NUMBER = re.compile(r"^\d{13,15}$")

FIELD_LABELS = {
    "phone": "来电号码",
    "request_type": "诉求类型",
    "content": "内容",
    "address": "地址",
    "name": "姓名",
    "title": "标题",
    "call_id": "来电编号 (call_id)",
    "link_to": "关联工单",
    "answer": "答复内容",
    "kb_entry": "知识库条目",
}


class CallRequest(BaseModel):
    call_id: str = Field(min_length=1, max_length=128, description="the call's own id: retries")
    phone: str = Field(description="the caller's number (caller ID)")
    request_type: RequestType | None = Field(None, description="left out: triage's")
    content: str = Field(max_length=5000)
    address: str | None = Field(None, max_length=300)
    name: str | None = Field(None, max_length=50)
    anonymous: bool = False
    title: str | None = Field(None, max_length=100)
    link_to: str | None = Field(None, description="the caller's ticket this call follows up")
    answer: str | None = Field(None, max_length=5000, description="直接答复: the answer given")
    kb_entry: str | None = Field(None, max_length=64, description="the KB entry answered from")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        """Control characters out before the lengths are checked (`intake.domain.text_hygiene`)."""
        return clean_data(data)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        try:
            return normalize_phone(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("name", "title", "address", "link_to", "answer", "kb_entry", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 5:
            raise ValueError("请至少写 5 个字，记录来电诉求 (content: at least 5 characters)")
        return value

    @field_validator("link_to")
    @classmethod
    def _number(cls, value: str | None) -> str | None:
        if value is not None and not TICKET_NUMBER.fullmatch(value):
            raise ValueError("不是工单编号 (link_to: a ticket number)")
        return value

    @model_validator(mode="after")
    def _one_outcome(self) -> CallRequest:
        if self.link_to and self.answer:
            raise ValueError("关联工单与直接答复只能选一个 (link_to or answer, not both)")
        return self


def reasons(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as {field, message}, the message Chinese first."""
    out = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "body"
        label = FIELD_LABELS.get(field, field)
        message = str(error.get("ctx", {}).get("error") or error["msg"])
        if error["type"] == "missing":
            message = f"请填写{label} ({field} is required)"
        elif error["type"].startswith("string_too_long"):
            message = f"{label}太长 ({field} is too long)"
        elif error["type"].startswith("string_too_short"):
            message = f"请填写{label} ({field} is empty)"
        elif error["type"] == "enum":
            known = ", ".join(t.value for t in RequestType)
            message = f"请选择诉求类型 (request_type: one of {known})"
        out.append({"field": field, "message": message.removeprefix("Value error, ")})
    return out


def external_id(call_id: str) -> str:
    """The call's id is the delivery's: a retried POST of one call is the same message."""
    return hashlib.sha256(f"call|{call_id}".encode()).hexdigest()[:40]


def to_message(call: CallRequest, *, staff: Staff, received_at: datetime) -> InboundMessage:
    name = None if call.anonymous else call.name
    fields: dict[str, Any] = {
        "request_type": call.request_type.value if call.request_type else None,
        "contact_phone": call.phone,
        VOUCHED_PHONE: True,
        "contact_name": name,
        "anonymous": call.anonymous,
        "title": call.title,
        FILED_BY: {"staff_id": staff.id, "name": staff.name},
    }
    if call.answer:
        fields[AGENT_ANSWER] = {"text": call.answer, "kb_entry": call.kb_entry}
    return InboundMessage(
        channel=CHANNEL,
        external_id=external_id(call.call_id),
        sender=SenderIdentity(kind=IdentityKind.PHONE, value=call.phone, display_name=name),
        kind=MessageKind.TEXT if call.link_to else MessageKind.FORM,
        received_at=received_at,
        text=call.content,
        location=Location(label=call.address) if call.address else None,
        thread_ref=call.link_to,
        raw={"call_id": call.call_id, "staff_id": staff.id},
        fields=fields,
    )
