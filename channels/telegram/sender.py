"""The notifier's Telegram sender: one sendMessage per delivery, errors sorted for retries.

Flood control (429) is retried after the time Telegram names; a blocked bot (403) or a chat
that does not exist (400 "chat not found") cannot be reached on Telegram, so the notifier
falls back to another channel; network trouble and Telegram's 5xx are retried; anything else
is a permanent failure of this one message. Staff alerts get "accept" and "open" buttons here,
because the notifier composes the same words for every channel.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from channels.base import OutboundMessage, SendResult
from channels.telegram import keyboards
from intake.domain.errors import PermanentSendError, TransientSendError, UnreachableError

log = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_TEXT = 4096
UNREACHABLE_400 = ("chat not found", "user not found", "peer_id_invalid", "chat_id is empty")
STAFF_TEMPLATE_PREFIX = "staff_"
ACCEPT_PREFIX = "staff:accept:"
OPEN_PREFIX = "staff:open:"


def staff_buttons(number: str) -> tuple[tuple[str, str], ...]:
    return (("✅ 受理 Accept", ACCEPT_PREFIX + number), ("📄 查看 Open", OPEN_PREFIX + number))


def buttons_for(message: OutboundMessage) -> tuple[tuple[str, str], ...]:
    """The notifier's own buttons, or staff action buttons on a staff alert about a ticket."""
    if message.buttons:
        return message.buttons
    template = message.template or ""
    if template.startswith(STAFF_TEMPLATE_PREFIX) and message.ticket_number:
        return staff_buttons(message.ticket_number)
    return ()


def classify(exc: TelegramAPIError) -> Exception:
    """The `intake.domain.errors` exception a Bot API failure stands for."""
    if isinstance(exc, TelegramRetryAfter):
        return TransientSendError(
            f"telegram flood control: {exc.message}", retry_after=exc.retry_after
        )
    if isinstance(exc, TelegramForbiddenError):
        return UnreachableError(f"telegram: {exc.message}")
    if isinstance(exc, TelegramBadRequest) and any(
        s in exc.message.lower() for s in UNREACHABLE_400
    ):
        return UnreachableError(f"telegram: {exc.message}")
    if isinstance(exc, TelegramNetworkError | TelegramServerError):
        return TransientSendError(f"telegram unavailable: {exc.message}")
    return PermanentSendError(f"telegram: {exc.message}")


class TelegramSender:
    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(self, message: OutboundMessage) -> SendResult:
        try:
            chat_id = int(message.recipient.value)
        except ValueError as exc:
            raise UnreachableError("telegram: the recipient is not a chat id") from exc
        try:
            sent = await self._bot.send_message(
                chat_id=chat_id,
                text=message.text[:MAX_TEXT],
                reply_markup=keyboards.inline(buttons_for(message)),
            )
        except TelegramAPIError as exc:
            error = classify(exc)
            log.info("telegram send job=%s failed: %s", message.job_key, error)
            raise error from exc
        return SendResult(provider_id=str(sent.message_id))
