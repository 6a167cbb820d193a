"""The notifier's WeCom sender: application messages to a staff member's WeCom user id.

A staff alert about a ticket becomes a button card (受理 / 查看): a tap comes back to our
callback (`callback.py`) and the action runs under that staff member's own account. Anything
else (digests, morning lists) is a text card linking to the console. Errors are sorted the way
the other senders sort them: a user WeCom does not know (81013, 60111, 40003, or the user
named in `invaliduser`) is unreachable here, so the notifier falls back to SMS or e-mail at
once; frequency limits (45009, 45033), "system busy" (-1), 5xx and network trouble are
retried; anything else fails this one message.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from intake.domain.errors import PermanentSendError, TransientSendError, UnreachableError
from intake.interfaces import OutboundMessage, SendResult

from .api import WeComApiError, WeComClient, WeComUnavailable

log = logging.getLogger(__name__)

CHANNEL = "wecom"
STAFF_TEMPLATE_PREFIX = "staff_"
ACCEPT_KEY = "accept:"
OPEN_KEY = "open:"
UNREACHABLE = frozenset({81013, 60111, 40003, 46004})
TRANSIENT = frozenset({-1, 45009, 45033, 40014, 42001})
RATE_LIMITED = frozenset({45009, 45033})
TASK_EXISTS = 42014  # the task id was used: this very card went out before
_TASK_CHARS = re.compile(r"[^A-Za-z0-9_@-]")


def task_id(job_key: str) -> str:
    """WeCom's task id (letters, digits, _-@, at most 128 bytes), the same for the same job."""
    digest = hashlib.sha256(job_key.encode()).hexdigest()[:12]
    return f"{_TASK_CHARS.sub('-', job_key)[:100]}-{digest}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_ticket_alert(message: OutboundMessage) -> bool:
    template = message.template or ""
    return template.startswith(STAFF_TEMPLATE_PREFIX) and bool(message.ticket_number)


def card_payload(message: OutboundMessage, *, agent_id: int, console_url: str) -> dict[str, Any]:
    """A button card for a ticket alert, a text card for everything else."""
    title = message.subject or "12345 提醒"
    base = {"touser": message.recipient.value, "agentid": agent_id}
    if is_ticket_alert(message):
        number = message.ticket_number or ""
        card: dict[str, Any] = {
            "card_type": "button_interaction",
            "source": {"desc": "12345 热线"},
            "main_title": {"title": _clip(title, 36)},
            "sub_title_text": _clip(message.text, 112),
            "horizontal_content_list": [{"keyname": "工单号", "value": number}],
            "task_id": task_id(message.job_key),
            "button_list": [
                {"text": "受理", "style": 1, "key": ACCEPT_KEY + number},
                {"text": "查看", "style": 2, "key": OPEN_KEY + number},
            ],
        }
        if console_url:
            card["card_action"] = {"type": 1, "url": f"{console_url}/tickets/{number}"}
        return {**base, "msgtype": "template_card", "template_card": card}
    textcard = {
        "title": _clip(title, 128),
        "description": _clip(message.text, 512),
        "url": console_url or "https://work.weixin.qq.com",
        "btntxt": "详情",
    }
    return {
        **base,
        "msgtype": "textcard",
        "textcard": textcard,
        "enable_duplicate_check": 1,
        "duplicate_check_interval": 1800,
    }


def classify(exc: WeComApiError | WeComUnavailable) -> Exception:
    """The `intake.domain.errors` exception a WeCom failure stands for."""
    if isinstance(exc, WeComUnavailable):
        return TransientSendError(str(exc))
    if exc.errcode in UNREACHABLE:
        return UnreachableError(f"wecom: user unknown to the app ({exc.errcode})")
    if exc.errcode in TRANSIENT:
        retry = 60.0 if exc.errcode in RATE_LIMITED else None
        return TransientSendError(f"wecom busy or rate limited ({exc.errcode})", retry_after=retry)
    return PermanentSendError(str(exc))


class WeComSender:
    channel = CHANNEL

    def __init__(self, client: WeComClient, *, console_url: str = "") -> None:
        self._client = client
        self._console_url = console_url

    async def send(self, message: OutboundMessage) -> SendResult:
        payload = card_payload(
            message, agent_id=self._client.settings.agent_id, console_url=self._console_url
        )
        try:
            result = await self._client.post("/cgi-bin/message/send", payload)
        except WeComApiError as exc:
            if exc.errcode == TASK_EXISTS and payload["msgtype"] == "template_card":
                return SendResult(detail="the card went out before (same task id)")
            raise classify(exc) from None
        except WeComUnavailable as exc:
            raise classify(exc) from None
        invalid = str(result.get("invaliduser") or "").lower().split("|")
        if message.recipient.value.lower() in invalid:
            raise UnreachableError("wecom: the user is not in the app's visible range")
        return SendResult(provider_id=str(result.get("msgid") or "") or None)

    async def send_text(self, userid: str, text: str) -> None:
        """A plain text answer to one user (the ticket detail after 查看)."""
        payload = {
            "touser": userid,
            "msgtype": "text",
            "agentid": self._client.settings.agent_id,
            "text": {"content": _clip(text, 2000)},
        }
        try:
            await self._client.post("/cgi-bin/message/send", payload)
        except (WeComApiError, WeComUnavailable) as exc:
            raise classify(exc) from None
