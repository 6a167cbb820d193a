"""A department's WeCom group robot: team alerts posted into the department's group chat.

The recipient is the department; its robot's webhook URL is looked up as registered
(`intake.directory.department_alerts`) when the message goes, so the key never waits in the job
queue.
The URL is checked again before every call (WeCom's own host over
https, or a host the operator allowed) and redirects are not followed, so a URL edited in the
database still cannot make the service call an internal address.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import httpx

from intake.directory.department_alerts import robot_url_problem
from intake.domain.errors import PermanentSendError, UnreachableError
from intake.interfaces import OutboundMessage, SendResult

from .api import WeComApiError, WeComUnavailable, install_redaction, request_json
from .sender import classify

log = logging.getLogger(__name__)

CHANNEL = "wecom_robot"
MAX_MARKDOWN = 4096
INVALID_WEBHOOK = frozenset({93000, 93004})  # invalid webhook url / the robot was removed


def robot_payload(message: OutboundMessage) -> dict[str, object]:
    title = f"**{message.subject}**\n" if message.subject else ""
    content = (title + message.text)[:MAX_MARKDOWN]
    return {"msgtype": "markdown", "markdown": {"content": content}}


class RobotSender:
    channel = CHANNEL

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        allowed_hosts: list[str],
        resolve: Callable[[str], Awaitable[str | None]],
    ) -> None:
        self._http = http
        self._hosts = list(allowed_hosts)
        self._resolve = resolve
        install_redaction()

    async def send(self, message: OutboundMessage) -> SendResult:
        url = await self._resolve(message.recipient.value)
        if not url:
            raise UnreachableError("wecom robot: none registered for the department")
        problem = robot_url_problem(url, self._hosts)
        if problem:
            raise PermanentSendError(f"wecom robot URL refused: {problem}")
        try:
            result = await request_json(
                self._http, "POST", url, json=robot_payload(message), follow_redirects=False
            )
            if int(result.get("errcode", 0) or 0) in INVALID_WEBHOOK:
                raise UnreachableError(f"wecom robot gone (errcode {result.get('errcode')})")
            if int(result.get("errcode", 0) or 0) != 0:
                raise WeComApiError(int(result["errcode"]), str(result.get("errmsg", "")))
        except (WeComApiError, WeComUnavailable) as exc:
            raise classify(exc) from None
        return SendResult()
