"""Keyboards: the guided request's reply keyboards and inline keyboards from button pairs.

`OutboundMessage.buttons` carries (label, data) pairs; data that is a web address becomes a
URL button, anything else callback data (Telegram allows 64 bytes of it).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from intake.enums import RequestType

TYPE_LABELS: dict[str, RequestType] = {
    "咨询 Question": RequestType.CONSULTATION,
    "求助 Help": RequestType.HELP,
    "投诉 Complaint": RequestType.COMPLAINT,
    "举报 Report": RequestType.REPORT,
    "建议 Suggestion": RequestType.SUGGESTION,
    "表扬 Praise": RequestType.PRAISE,
}
SKIP = "跳过 Skip"
CANCEL = "取消 Cancel"
SHARE_LOCATION = "📍 发送位置 Send location"
SHARE_PHONE = "📞 提供手机号 Share phone"
MAX_CALLBACK_BYTES = 64


def request_types() -> ReplyKeyboardMarkup:
    labels = list(TYPE_LABELS)
    rows = [
        [KeyboardButton(text=label) for label in labels[i : i + 2]]
        for i in range(0, len(labels), 2)
    ]
    rows.append([KeyboardButton(text=CANCEL)])
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)


def location() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=SHARE_LOCATION, request_location=True)],
            [KeyboardButton(text=SKIP), KeyboardButton(text=CANCEL)],
        ],
        resize_keyboard=True,
    )


def contact() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=SHARE_PHONE, request_contact=True)],
            [KeyboardButton(text=SKIP), KeyboardButton(text=CANCEL)],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def cancel_only() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text=CANCEL)]], resize_keyboard=True)


def remove() -> ReplyKeyboardRemove:
    return ReplyKeyboardRemove()


def inline(buttons: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup | None:
    """One row of buttons (rating answers read best side by side); None without buttons."""
    if not buttons:
        return None
    row = [button(label, data) for label, data in buttons]
    return InlineKeyboardMarkup(inline_keyboard=[row])


def button(label: str, data: str) -> InlineKeyboardButton:
    if data.startswith(("https://", "http://")):
        return InlineKeyboardButton(text=label, url=data)
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError(f"callback data longer than {MAX_CALLBACK_BYTES} bytes: {data[:20]}…")
    return InlineKeyboardButton(text=label, callback_data=data)
