"""Filing a call: the one function behind the console's 来电录入 form and `POST /api/v1/tickets`.

The call goes through the gateway like any channel's message (one atomic, idempotent step;
the pipeline then writes the ticket), so a phone ticket gets the same dedupe, triage,
deadlines and notifications. The call's id is the idempotency key: a retried filing gets the
first receipt, and the same id with another content is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from intake.calls.caller import callers_ticket, linkable
from intake.calls.request import CallRequest, to_message
from intake.domain.enums import Role
from intake.domain.errors import Conflict, Forbidden, InvalidInput
from intake.domain.models import Staff
from intake.domain.phones import mask_phone
from intake.ingest.gateway import AcceptedReceipt, fingerprint
from intake.runtime import Runtime

log = logging.getLogger(__name__)

# agents take calls; supervisors and administrators may do everything an agent does
CALL_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class CallReceipt:
    number: str  # the new ticket, or the one the call was added to
    query_code: str | None  # a new ticket's, to read out to the caller
    duplicate: bool  # this call was filed before (a retry): nothing new was made
    follow_up: bool
    answered: bool  # 直接答复: the pipeline closes the ticket with the agent's answer
    emergency: dict[str, str] | None = None


def check_role(staff: Staff) -> None:
    if Role(staff.role) not in CALL_ROLES:
        raise Forbidden(f"role '{staff.role}' may not file calls (来电录入 is for agents)")


async def file_call(runtime: Runtime, staff: Staff, call: CallRequest) -> CallReceipt:
    check_role(staff)
    if call.link_to:
        await _check_link(runtime, call, call.link_to)
    message = to_message(call, staff=staff, received_at=runtime.clock())
    receipt = await runtime.gateway.submit(message, open_ticket=call.link_to is None)
    if (
        receipt.duplicate
        and isinstance(receipt, AcceptedReceipt)
        and receipt.fingerprint != fingerprint(message)
    ):
        raise Conflict("call_id was used for a different call (来电编号已用于另一通来电)")
    number = receipt.number or call.link_to
    assert number is not None, "a new call is numbered by the gateway"
    log.info(
        "call filed by staff=%s caller=%s ticket=%s follow_up=%s answered=%s duplicate=%s",
        staff.id,
        mask_phone(call.phone),
        number,
        bool(call.link_to),
        bool(call.answer),
        receipt.duplicate,
    )
    emergency = receipt.emergency
    return CallReceipt(
        number=number,
        query_code=receipt.query_code,
        duplicate=receipt.duplicate,
        follow_up=bool(call.link_to),
        answered=bool(call.answer),
        emergency={"number": emergency.number, "advice": emergency.advice} if emergency else None,
    )


async def _check_link(runtime: Runtime, call: CallRequest, number: str) -> None:
    """The pipeline adds a call only to the caller's own ticket: say so now, not never."""
    async with runtime.db.read() as session:
        ticket = await callers_ticket(session, phone=call.phone, number=number)
    if ticket is None:
        raise InvalidInput(f"工单 {number} 不是该来电号码的工单 (not the caller's ticket)",
                           field="link_to")
    window = runtime.settings.pipeline.closed_reply_window_days
    if not linkable(ticket, now=runtime.clock(), window_days=window):
        raise InvalidInput(
            f"工单 {number} 已办结超过 {window} 天，请作为新诉求提交 (closed too long ago)",
            field="link_to",
        )
