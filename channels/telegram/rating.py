"""Rating buttons (满意 / 基本满意 / 不满意) under the notifier's survey: recorded at once.

The notifier puts `rate:<prompt code>:<1|2|3>` in each button. The answer is recorded through
the core's `PromptAnswers` (the notifier's, plugged in by the root) with the pressing chat's
identity, so a button only ever
counts for the presser's own prompt (the code is matched among their prompts). The buttons
are then taken off the message so the survey cannot be answered twice by accident.
"""

from __future__ import annotations

import logging
import re

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message

from channels.telegram import texts
from intake.domain.messages import IdentityKind, SenderIdentity
from intake.interfaces import PromptAnswers

log = logging.getLogger(__name__)

CALLBACK = re.compile(r"^rate:([A-Za-z]{4,12}):([123])$")
ANSWERED = frozenset({"recorded", "late"})


class RatingButtons:
    def __init__(self, *, answers: PromptAnswers | None) -> None:
        self._answers = answers

    def router(self) -> Router:
        r = Router(name="telegram-rating")
        r.callback_query.register(self.rate, F.data.startswith("rate:"))
        return r

    async def rate(self, query: CallbackQuery) -> None:
        found = CALLBACK.match(query.data or "")
        chat = query.message.chat.id if query.message else query.from_user.id
        if found is None:
            await query.answer(texts.RATING_BAD, show_alert=True)
            return
        code, answer = found.groups()
        answers = self._answers
        if answers is None:  # no notifier plugged in: no prompts to answer
            await query.answer(texts.RATING_BAD, show_alert=True)
            return
        outcome = await answers.record(
            text=f"{code} {answer}",
            channel="telegram",
            identity=SenderIdentity(IdentityKind.TELEGRAM, str(chat)),
        )
        log.info("telegram rating prompt=%s: %s", outcome.prompt_id, outcome.status)
        await query.answer(texts.RATING_THANKS if outcome.status == "recorded" else None)
        if isinstance(query.message, Message):
            if outcome.status in ANSWERED:
                await query.message.edit_reply_markup(reply_markup=None)
            await query.message.answer(outcome.reply)
