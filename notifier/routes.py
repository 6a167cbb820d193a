"""The one-click rating link of e-mails (and the web): `GET /r/{token}` records at once.

The answer is recorded on the first visit; later visits (or the other links of the same mail)
say it was already recorded. Mail scanners that prefetch links would record a rating too;
HEAD requests are not answered, and the link is signed per prompt and per answer.
"""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from notifier.answers import apply_answer, publish
from notifier.links import RATING_ZH, read_token
from notifier.models import Prompt
from notifier.parse import ParsedAnswer
from notifier.parts import NotifierParts

PAGE = """<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>12345热线回访</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem">
<h1 style="font-size:1.3rem">12345市民服务热线</h1><p>{body}</p></body></html>"""

MESSAGES = {
    "recorded": "感谢您的评价（{rating}）！工单 {number} 的回访已记录。",
    "unsatisfied": "已记录您的评价（不满意）。工单 {number} 将重新办理并纳入督办，"
    "稍后我们会请您说明不满意的原因。",
    "late": "该回访已评价或已过期，感谢您的关注。如有新的问题，请直接告诉我们。",
    "invalid": "链接无效或已失效。",
}


def page(key: str, *, status: int = 200, **values: str) -> HTMLResponse:
    text = MESSAGES[key].format(**{k: html.escape(v) for k, v in values.items()})
    return HTMLResponse(PAGE.format(body=text), status_code=status)


def router(parts: NotifierParts) -> APIRouter:
    """Mounted by the composition root once the runtime is open."""
    routes = APIRouter(tags=["notifier"])

    @routes.get("/r/{token}", response_class=HTMLResponse, summary="one-click rating link")
    async def rate(token: str) -> HTMLResponse:
        return await record_rating(parts, token)

    return routes


async def record_rating(parts: NotifierParts, token: str) -> HTMLResponse:
    answer = read_token(parts.secret_key, token)
    if answer is None:
        return page("invalid", status=404)
    async with parts.db.write() as session, session.begin():
        query = session.get(
            Prompt, answer.prompt_id, with_for_update=session.bind.dialect.name == "postgresql"
        )
        prompt = await query
        if prompt is None:
            return page("invalid", status=404)
        applied = await apply_answer(
            session, prompt, ParsedAnswer(rating=answer.rating), channel="link", now=parts.clock()
        )
    await publish(parts.relay, applied.events)
    number = applied.ticket.number if applied.ticket else ""
    if applied.status != "recorded":
        return page("late")
    key = "unsatisfied" if answer.rating == "unsatisfied" else "recorded"
    return page(key, number=number, rating=RATING_ZH[answer.rating])
