"""What a citizen submits on the web, validated, and turned into the normalized message.

Validation messages are Chinese first (they are shown on the page next to the field).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from intake.domain.enums import RequestType
from intake.domain.errors import InvalidInput
from intake.domain.messages import (
    Attachment,
    IdentityKind,
    InboundMessage,
    Location,
    MessageKind,
    SenderIdentity,
)
from intake.domain.phones import normalize_mainland_mobile
from intake.domain.text_hygiene import clean_data

CHANNEL = "web"

FIELD_LABELS = {
    "phone": "手机号码",
    "name": "姓名",
    "request_type": "诉求类型",
    "content": "诉求内容",
    "address": "事发地址",
    "title": "标题",
    "attachments": "附件",
    "latitude": "纬度",
    "longitude": "经度",
}


class WebRequest(BaseModel):
    phone: str = Field(description="mainland mobile number for callbacks (必填)")
    name: str | None = Field(None, max_length=50)
    anonymous: bool = False
    request_type: RequestType = RequestType.CONSULTATION
    title: str | None = Field(None, max_length=100)
    content: str = Field(min_length=5, max_length=5000)
    address: str | None = Field(None, max_length=300)
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        """Control characters out before the lengths are checked (`intake.domain.text_hygiene`)."""
        return clean_data(data)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        try:
            return normalize_mainland_mobile(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("name", "title", "address", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("content")
    @classmethod
    def _content(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 5:
            raise ValueError("请至少写 5 个字，说明您的诉求")
        return value


def field_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Pydantic's errors as {field, message}, with a Chinese message for the page."""
    errors = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "body"
        message = str(error.get("ctx", {}).get("error") or error["msg"])
        if error["type"] == "missing":
            message = f"请填写{FIELD_LABELS.get(field, field)}"
        elif error["type"].startswith("string_too_short"):
            least = error.get("ctx", {}).get("min_length", "")
            message = f"{FIELD_LABELS.get(field, field)}太短（至少 {least} 个字）"
        elif error["type"].startswith("string_too_long"):
            message = f"{FIELD_LABELS.get(field, field)}太长"
        elif error["type"] == "enum":
            message = "请选择诉求类型"
        errors.append({"field": field, "message": message.removeprefix("Value error, ")})
    return errors


def external_id(phone: str, idempotency_key: str) -> str:
    """Keys are scoped by phone so that one citizen's key can never block another's."""
    return hashlib.sha256(f"{phone}|{idempotency_key}".encode()).hexdigest()[:40]


def to_message(
    request: WebRequest,
    *,
    idempotency_key: str,
    attachments: tuple[Attachment, ...],
    received_at: datetime,
    client_ip: str | None,
) -> InboundMessage:
    location = None
    if request.address or request.latitude is not None:
        location = Location(
            latitude=request.latitude, longitude=request.longitude, label=request.address
        )
    return InboundMessage(
        channel=CHANNEL,
        external_id=external_id(request.phone, idempotency_key),
        sender=SenderIdentity(
            kind=IdentityKind.PHONE, value=request.phone, display_name=request.name
        ),
        kind=MessageKind.FORM,
        received_at=received_at,
        text=request.content,
        attachments=attachments,
        location=location,
        raw={**request.model_dump(mode="json"), "client_ip": client_ip},
        fields={
            "request_type": request.request_type.value,
            "contact_phone": request.phone,
            "contact_name": None if request.anonymous else request.name,
            "anonymous": request.anonymous,
            "title": request.title,
        },
    )
