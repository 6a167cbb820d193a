"""The guided request's steps as FSM states, and the small decisions inside each step."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup

from channels.telegram.keyboards import TYPE_LABELS
from intake.enums import RequestType


class RequestForm(StatesGroup):
    request_type = State()
    text = State()
    location = State()
    phone = State()


def request_type_of(answer: str) -> RequestType | None:
    """The button's label, or its Chinese or English word typed by hand."""
    folded = answer.strip().lower()
    for label, value in TYPE_LABELS.items():
        words = {label.lower(), *label.lower().split(), value.value}
        if folded in words:
            return value
    return None
