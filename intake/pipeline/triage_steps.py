"""Triage in the pipeline: classify, flag, set working-day deadlines, answer what the knowledge
base can answer, and redirect what the hotline does not handle.

Every decision lands on the ticket as one internal `triaged` event that says what was decided
and why (rule ids, matched words, scores), so it can be shown and counted. What triage was not
sure enough to do by itself is recorded there for the agent and not acted on: the suggested
knowledge-base answers (one `reply` sends one) and a possible 不予受理.
"""

from __future__ import annotations

from intake.calls.request import FILED_BY
from intake.domain.enums import EventKind, Intent, Resolution, TicketStatus
from intake.domain.events import add_event
from intake.domain.models import Ticket
from intake.pipeline.context import Context
from intake.triage.kit import TriageKit
from intake.triage.models import TriageDecision

OUT_OF_SCOPE = "out-of-scope"


async def assess_request(ctx: Context) -> None:
    kit = ctx.batch.triage
    if ctx.intent is not Intent.NEW_REQUEST or kit is None:
        return
    location = ctx.message.location
    ctx.assessment = kit.triage.assess(
        ctx.message.text,
        location_label=location.label if location else None,
        request_type_hint=ctx.message.fields.get("request_type"),
    )


async def apply_triage(ctx: Context) -> None:
    kit, decision, ticket = ctx.batch.triage, ctx.assessment, ctx.ticket
    if kit is None or decision is None or ticket is None or ctx.intent is not Intent.NEW_REQUEST:
        return
    special = kit.special.is_special(ticket.contact_phone) if ticket.contact_phone else None
    _classify(ticket, decision, chosen_type=ctx.message.fields.get("request_type"))
    ticket.urgent = bool(decision.urgent or special)
    _set_deadlines(ticket, kit)
    _record(ctx, ticket, decision, special)
    if FILED_BY in ctx.message.fields:
        return  # an agent took the call and chose to answer or to file: no automatic close
    if decision.out_of_scope is not None:
        ticket.category = OUT_OF_SCOPE
        _close(
            ctx,
            ticket,
            decision.out_of_scope.reply,
            {
                "out_of_scope": decision.out_of_scope.rule_id,
                "resolution": Resolution.DECLINED.value,
            },
        )
    elif decision.direct_answer and decision.kb_answer is not None:
        _close(
            ctx,
            ticket,
            decision.kb_answer.answer,
            {
                "direct_answer": True,
                "resolution": Resolution.DIRECT_ANSWER.value,
                "kb_entry": decision.kb_answer.entry_id,
                "score": round(decision.kb_answer.score, 3),
            },
        )


def _classify(ticket: Ticket, decision: TriageDecision, *, chosen_type: str | None) -> None:
    """The citizen's own choice of type (web form) wins; the classifier's is recorded."""
    if not chosen_type:
        ticket.request_type = decision.request_type.label
    ticket.category = decision.category.label
    ticket.needs_human = decision.needs_human
    ticket.district = decision.routing.district
    ticket.street = decision.routing.street


def _set_deadlines(ticket: Ticket, kit: TriageKit) -> None:
    due = kit.deadlines.compute(
        ticket.created_at, ticket.request_type, ticket.category, calendar=kit.calendar
    )
    ticket.accept_due_at, ticket.due_at = due.accept_by, due.finish_by


def _record(ctx: Context, ticket: Ticket, decision: TriageDecision, special: str | None) -> None:
    routing = decision.routing
    data = {
        "request_type": decision.request_type.label,
        "request_type_confidence": round(decision.request_type.confidence, 3),
        "category": decision.category.label,
        "category_confidence": round(decision.category.confidence, 3),
        "category_source": decision.category.source,  # keywords, model, unsure (an agent decides)
        "category_candidates": [c.to_dict() for c in decision.category.candidates],
        "model_version": decision.model_version,
        "suggested_department": routing.primary,
        "co_departments": list(routing.co_handlers),
        "district": routing.district,
        "street": routing.street,
        "needs_human": decision.needs_human,
        "human_reason": decision.human_reason,
        "emergency": decision.emergency.service if decision.emergency else None,
        "immediate_reply": decision.immediate_reply,
        "special_service": special,
        "suggested_answers": [a.to_dict() for a in decision.suggested_answers],
        "out_of_scope_suggestion": _out_of_scope_suggestion(decision),
        "decisions": [d.to_dict() for d in decision.decisions],
    }
    ctx.batch.events.append(
        add_event(
            ctx.batch.session,
            ticket,
            EventKind.TRIAGED,
            at=ctx.batch.clock(),
            public=False,
            data=data,
            message=ctx.record,
        )
    )


def _out_of_scope_suggestion(decision: TriageDecision) -> dict[str, object] | None:
    hit = decision.out_of_scope_suggestion
    if hit is None:
        return None
    matched = list(hit.matched)
    return {"rule_id": hit.rule_id, "name": hit.name, "matched": matched, "reply": hit.reply}


def _close(ctx: Context, ticket: Ticket, text: str, data: dict[str, object]) -> None:
    """The bot answers at once (直接答复): closed, still counted and still surveyed."""
    now = ctx.batch.clock()
    ticket.status, ticket.closed_at = TicketStatus.CLOSED.value, now
    ctx.answered = add_event(
        ctx.batch.session,
        ticket,
        EventKind.CLOSED,
        at=now,
        actor_kind="system",
        text=text,
        data={
            "from": TicketStatus.RECEIVED.value,
            "to": TicketStatus.CLOSED.value,
            "at_intake": True,  # a channel's own reply to the request may carry the answer
            **data,
        },
    )
    ctx.batch.events.append(ctx.answered)
