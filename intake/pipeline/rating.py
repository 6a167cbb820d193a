"""Answers to callback surveys and rating prompts, recognised in the pipeline for every channel.

The prompts themselves belong to the notifier (it sends them and owns their table); the
pipeline only decides that a message answers one and records it in the same transaction as
the message, so that a rating is never lost nor counted twice. The notifier's side comes in
through `intake.interfaces.PromptAnswers`; without it (no notifier plugged in) no message is
taken for an answer.
"""

from __future__ import annotations

from intake.domain.enums import Intent
from intake.pipeline.context import Context


async def answers_a_prompt(ctx: Context) -> bool:
    """True (and the intent set) when the message answers one of the sender's prompts."""
    answers = ctx.batch.answers
    citizen, text = ctx.citizen, ctx.message.text
    if answers is None or citizen is None or citizen.id is None or not text.strip():
        return False
    prompt = await answers.recognise(ctx.batch.session, citizen_id=citizen.id, text=text)
    if prompt is None:
        return False
    ctx.prompt = prompt
    ctx.intent = Intent.RATING
    ctx.decide(
        "intent",
        Intent.RATING,
        reason="answers a survey or rating prompt",
        prompt=prompt.id,
        code=prompt.code,
    )
    return True


async def record_rating(ctx: Context) -> None:
    answers = ctx.batch.answers
    if ctx.intent is not Intent.RATING or ctx.prompt is None or answers is None:
        return
    applied = await answers.apply(
        ctx.batch.session,
        ctx.prompt,
        text=ctx.message.text,
        channel=ctx.message.channel,
        now=ctx.batch.clock(),
    )
    ctx.batch.events.extend(applied.events)
    ctx.ticket = applied.ticket
    ctx.reply_text = applied.reply_text
