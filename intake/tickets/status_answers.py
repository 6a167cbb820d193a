"""What a citizen does on the status page once a lookup has proved the ticket is theirs:
answer the question staff asked (`ask`), and rate the handling after closure.

The answer becomes the citizen's follow-up of the ticket: a message that refers to the ticket,
under the citizen's own identity, handed to the pipeline like an answer on any other channel,
which adds it to the ticket, ends the wait and moves the deadline (`intake.pipeline.waiting`).
The rating answers the ticket's survey through the prompts plugged into the runtime
(`intake.interfaces.PromptAnswers`): recorded once, and 不满意 reopens the ticket under
supervision as on every other channel.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from intake.domain.enums import TicketStatus
from intake.domain.errors import Conflict, InvalidInput, NotFound, Unavailable
from intake.domain.messages import IdentityKind, InboundMessage, MessageKind, SenderIdentity
from intake.domain.models import CitizenIdentity, Ticket
from intake.interfaces import AnswerOutcome, Receipt
from intake.tickets.citizen_view import TicketParts

MAX_ANSWER = 2000
RATINGS = ("satisfied", "basic", "unsatisfied")


async def answer_question(
    runtime: TicketParts,
    *,
    number: str,
    text: str,
    channel: str,
    external_id: str,
    received_at: datetime,
) -> Receipt:
    """Submit the citizen's answer to the ticket's open question; `Conflict` when staff are not
    waiting for one (answered meanwhile, or the ticket was closed)."""
    text = text.strip()
    if not text:
        raise InvalidInput("请填写您要补充的内容", field="answer")
    if len(text) > MAX_ANSWER:
        raise InvalidInput(f"补充内容太长（最多 {MAX_ANSWER} 字）", field="answer")
    async with runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        if ticket is None:
            raise NotFound("no such request")
        if ticket.waiting_since is None or ticket.status == TicketStatus.CLOSED.value:
            raise Conflict("该工单目前没有需要您补充的问题")
        sender = await _identity(session, ticket)
    message = InboundMessage(
        channel=channel,
        external_id=external_id,
        sender=sender,
        kind=MessageKind.TEXT,
        received_at=received_at,
        text=text,
        thread_ref=number,
        fields={"via": "status_page"},
    )
    return await runtime.gateway.submit(message)


async def rate(runtime: TicketParts, *, number: str, rating: str, channel: str) -> AnswerOutcome:
    """Rate a closed ticket: satisfied | basic | unsatisfied."""
    if rating not in RATINGS:
        raise InvalidInput("请选择满意、基本满意或不满意", field="rating")
    if runtime.answers is None:  # no notifier plugged in: no surveys to answer
        raise Unavailable("评价暂时无法提交，请稍后再试")
    async with runtime.db.read() as session:
        ticket_id = await session.scalar(select(Ticket.id).where(Ticket.number == number))
    if ticket_id is None:
        raise NotFound("no such request")
    return await runtime.answers.rate_ticket(ticket_id=ticket_id, rating=rating, channel=channel)


async def _identity(session: AsyncSession, ticket: Ticket) -> SenderIdentity:
    """The citizen's identity to file the answer under: the ticket's contact phone when the
    citizen has it as an identity, else their first one."""
    phone_first = case(
        (
            (CitizenIdentity.kind == IdentityKind.PHONE.value)
            & (CitizenIdentity.value == (ticket.contact_phone or "")),
            0,
        ),
        else_=1,
    )
    found = await session.scalar(
        select(CitizenIdentity)
        .where(
            CitizenIdentity.citizen_id == ticket.citizen_id,
            CitizenIdentity.kind != IdentityKind.WECOM.value,
        )
        .order_by(phone_first, CitizenIdentity.id)
        .limit(1)
    )
    if found is None:
        raise Conflict("该工单无法在网页上补充，请拨打 12345")
    return SenderIdentity(IdentityKind(found.kind), found.value, account=found.account or "")
