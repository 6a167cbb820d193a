"""Keyboards: the guided request's reply keyboards and inline keyboards from button pairs.

The guided request's buttons say what the core's catalogue (`intake.guided`) gives them, in
Chinese and English; which keyboard goes with which question is decided here.

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

from intake.guided.catalogue import FormRules

MAX_CALLBACK_BYTES = 64
Markup = ReplyKeyboardMarkup | ReplyKeyboardRemove


def for_question(form: FormRules, asking: str | None) -> Markup:
    """The keyboard that answers the question asked; none once the request is done."""
    if asking == "type":
        return request_types(form)
    if asking == "place":
        return location(form)
    if asking == "phone":
        return contact(form)
    return cancel_only(form) if asking else remove()


def request_types(form: FormRules) -> ReplyKeyboardMarkup:
    labels = [wording.label() for wording in form.request_types.values()]
    rows = [
        [KeyboardButton(text=label) for label in labels[i : i + 2]]
        for i in range(0, len(labels), 2)
    ]
    rows.append([KeyboardButton(text=_label(form, "cancel"))])
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)


def location(form: FormRules) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_label(form, "share_location"), request_location=True)],
            _skip_or_cancel(form),
        ],
        resize_keyboard=True,
    )


def contact(form: FormRules) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_label(form, "share_phone"), request_contact=True)],
            _skip_or_cancel(form),
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def cancel_only(form: FormRules) -> ReplyKeyboardMarkup:
    cancel = KeyboardButton(text=_label(form, "cancel"))
    return ReplyKeyboardMarkup(keyboard=[[cancel]], resize_keyboard=True)


def remove() -> ReplyKeyboardRemove:
    return ReplyKeyboardRemove()


def _skip_or_cancel(form: FormRules) -> list[KeyboardButton]:
    return [KeyboardButton(text=_label(form, "skip")), KeyboardButton(text=_label(form, "cancel"))]


def _label(form: FormRules, name: str) -> str:
    return form.labels[name].label()


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
