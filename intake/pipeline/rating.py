"""Answers to callback surveys and rating prompts, recognised in the pipeline for every channel.

The prompts themselves belong to the notifier (it sends them and owns their table); the
pipeline only decides that a message answers one and records it in the same transaction as
the message, so that a rating is never lost nor counted twice.
"""

from __future__ import annotations

from typing import Any

from intake.enums import Intent
from intake.pipeline.context import Context

SHORT_ANSWER = 30  # a longer message with 满意 in it is a new request, not a rating


async def answers_a_prompt(ctx: Context) -> bool:
    """True (and the intent set) when the message answers one of the sender's prompts."""
    from notifier.answers import match_prompt
    from notifier.models import PromptStatus
    from notifier.parse import find_code, fold, parse_dimensions, parse_rating

    citizen, text = ctx.citizen, ctx.message.text
    if citizen is None or citizen.id is None or not text.strip():
        return False
    short = len(fold(text)) <= SHORT_ANSWER
    rating_like = short and parse_rating(text).rating is not None
    if not (rating_like or find_code(text) or (short and parse_dimensions(text).dimensions)):
        return False
    prompt = await match_prompt(ctx.batch.session, citizen.id, text)
    if prompt is None:
        return False
    if prompt.status != PromptStatus.PENDING.value and not rating_like:
        return False  # a late answer is recognised only when it plainly is one
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
    if ctx.intent is not Intent.RATING or ctx.prompt is None:
        return
    from notifier.answers import _parse, apply_answer, renderer_for
    from notifier.config import load_notify_settings

    prompt: Any = ctx.prompt
    applied = await apply_answer(
        ctx.batch.session,
        prompt,
        _parse(prompt, ctx.message.text),
        channel=ctx.message.channel,
        now=ctx.batch.clock(),
    )
    ctx.batch.events.extend(applied.events)
    ctx.ticket = applied.ticket
    cfg = load_notify_settings(ctx.batch.notify_settings)
    number = applied.ticket.number if applied.ticket else None
    ctx.reply_text = (
        renderer_for(cfg.templates_dir, cfg.language)
        .render(applied.template, {"number": number, "status": prompt.status})
        .text
    )
