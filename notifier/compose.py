"""The words of a message: template context from the ticket, then one OutboundMessage per route.

E-mail gets one-click rating links (and an HTML part) and threads under the citizen's own
mail; SMS gets "reply 1/2/3" and the provider template name with its parameters; WeChat and
Telegram get answer buttons.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from intake.catalog import Catalog
from intake.interfaces import OutboundMessage
from intake.texts import Renderer
from intake.texts.facts import local_time, ticket_context
from notifier.facts import MailThread, TicketFacts
from notifier.jobs import JobSpec
from notifier.links import RATING_ZH, RATINGS, rating_links
from notifier.models import Prompt
from notifier.routing import Route

LINK_CHANNELS = frozenset({"email"})
BUTTON_CHANNELS = frozenset({"wechat", "telegram"})


def local_text(at: datetime | None, zone: Any) -> str:
    return local_time(at, zone)


def base_context(spec: JobSpec, ticket: TicketFacts, catalog: Catalog, zone: Any) -> dict[str, Any]:
    """The catalogue's context of a ticket (`intake.texts.facts`), with this job's words."""
    department = spec.extra.get("department") or ticket.department
    name = catalog.departments[department].name if department in catalog.departments else ""
    context = ticket_context(
        number=ticket.number,
        query_code=ticket.query_code,
        title=ticket.title,
        request_type=ticket.request_type,
        department=name or department,
        due_at=ticket.due_at,
        zone=zone,
        template=spec.template,
    )
    context.update(
        text=spec.text or "",
        reason=spec.extra.get("reason") or "",
        emergency=spec.extra.get("emergency") or "",
        at_intake=bool(spec.extra.get("at_intake")),
    )
    return context


def prompt_context(prompt: Prompt, zone: Any) -> dict[str, Any]:
    return {
        "code": prompt.code,
        "expires": local_text(prompt.expires_at, zone),
        "prompt_id": prompt.id,
    }


def build_message(
    *,
    spec: JobSpec,
    route: Route,
    context: dict[str, Any],
    renderer: Renderer,
    public_url: str,
    secret: str,
    lang: str | None = None,
    thread: MailThread | None = None,
    template: str | None = None,
) -> OutboundMessage:
    """`thread`: the citizen's mail that an e-mail answers (see `channel_params`);
    `template`: the one to render when it is not the job's own (an instant reply's)."""
    ctx = dict(context)
    prompt_id = ctx.get("prompt_id")
    rating = spec.template in ("survey", "reminder") and prompt_id is not None
    if rating and route.channel in LINK_CHANNELS:
        ctx["links"] = rating_links(public_url, secret, int(prompt_id or 0))
    rendered = renderer.render(template or spec.template, ctx, lang=lang)
    buttons: tuple[tuple[str, str], ...] = ()
    if rating and route.channel in BUTTON_CHANNELS:
        buttons = tuple(
            (RATING_ZH[r], f"rate:{ctx['code']}:{i}") for i, r in enumerate(RATINGS, start=1)
        )
    return OutboundMessage(
        recipient=route.recipient,
        text=rendered.text,
        job_key=spec.key,
        ticket_number=spec.number,
        subject=rendered.subject,
        html=rendered.html if route.channel == "email" else None,
        template=spec.template,
        params=channel_params(route.channel, rendered.params, thread),
        buttons=buttons,
    )


def channel_params(
    channel: str, template_params: dict[str, Any], thread: MailThread | None
) -> dict[str, Any]:
    """SMS: the provider template's parameters; e-mail: In-Reply-To/References of the
    citizen's mail, so that our answer threads under it in their client."""
    if channel == "sms":
        return template_params
    if channel == "email" and thread is not None:
        return thread.params()
    return {}
