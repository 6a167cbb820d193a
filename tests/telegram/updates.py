"""Real Update JSON as Telegram sends it, for the webhook and the poller."""

from __future__ import annotations

import itertools
import time
from typing import Any

CITIZEN = 555001
_ids = itertools.count(900_000)


def next_update_id() -> int:
    return next(_ids)


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "小明", "last_name": "王"}


def message(chat: int = CITIZEN, update_id: int | None = None, **body: Any) -> dict[str, Any]:
    uid = update_id if update_id is not None else next_update_id()
    return {
        "update_id": uid,
        "message": {
            "message_id": uid % 100_000,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "小明"},
            "from": _user(chat),
            **body,
        },
    }


def text(value: str, chat: int = CITIZEN, update_id: int | None = None) -> dict[str, Any]:
    entities = []
    if value.startswith("/"):
        entities = [{"type": "bot_command", "offset": 0, "length": len(value.split()[0])}]
    extra: dict[str, Any] = {"entities": entities} if entities else {}
    return message(chat, update_id, text=value, **extra)


def photo(file_id: str, size: int, caption: str | None = None, chat: int = CITIZEN) -> dict:
    sizes = [
        {"file_id": f"{file_id}-thumb", "file_unique_id": "t1", "width": 90, "height": 90},
        {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "width": 800,
            "height": 600,
            "file_size": size,
        },
    ]
    extra = {"caption": caption} if caption else {}
    return message(chat, photo=sizes, **extra)


def location(lat: float, lon: float, chat: int = CITIZEN) -> dict[str, Any]:
    return message(chat, location={"latitude": lat, "longitude": lon})


def contact(phone: str, user_id: int = CITIZEN, chat: int = CITIZEN) -> dict[str, Any]:
    return message(chat, contact={"phone_number": phone, "first_name": "小明", "user_id": user_id})


def callback(data: str, chat: int = CITIZEN, message_id: int = 101) -> dict[str, Any]:
    uid = next_update_id()
    return {
        "update_id": uid,
        "callback_query": {
            "id": f"cb{uid}",
            "from": _user(chat),
            "chat_instance": "ci-1",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private"},
                "from": {"id": 123456, "is_bot": True, "first_name": "City 12345"},
                "text": "…",
            },
        },
    }
