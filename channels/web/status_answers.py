"""The citizen's side of the loop on the status page: the reply box and the rating.

Both act only with the proof the lookup took (ticket number and query code, or phone). The page
of a successful lookup carries it in a hidden field, signed with the service's secret key and
valid for `PROOF_MINUTES`; each reply or rating runs the same lookup again under the same
limits (`lookup_within_limits`), so it is refused exactly when a lookup would be. A forged or
stale field, posted from another site or replayed later, is refused before anything is read.
Nothing the page says depends on the ticket unless the proof holds.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer

from intake.api.client_ip import client_ip as client_address
from intake.api.ratelimit import lookup_within_limits
from intake.domain.clock import Clock
from intake.domain.errors import Conflict, InvalidInput, NotFound, TooManyRequests, Unavailable
from intake.tickets.citizen_view import PublicStatus, TicketParts, public_status
from intake.tickets.status_answers import MAX_ANSWER, answer_question, rate

log = logging.getLogger(__name__)

PROOF_MINUTES = 30
MAX_FIELD = 16 * MAX_ANSWER  # bytes: the answer in UTF-8 and percent-encoded, and then some
RATING_ZH = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}
EXPIRED = "页面已过期，请重新输入工单编号和查询码查询后再提交。"
ANSWERED = "已收到您的补充信息，办理时限恢复计算，承办单位会尽快处理。"
RATED = {
    "recorded": "感谢您的评价（{rating}）！",
    "unsatisfied": "已记录您的评价（不满意）。工单将重新办理并纳入督办。",
    "late": "该工单已评价或评价期限已过，感谢您的关注。",
    "unmatched": "该工单目前不能评价。",
    "unclear": "该工单目前不能评价。",
}

Render = Callable[..., HTMLResponse]


class Proof:
    """The lookup's number and code (or phone), signed: what a reply or rating presents."""

    def __init__(self, secret: str) -> None:
        self._signer = URLSafeTimedSerializer(secret, salt="intake-status-page")

    def issue(self, *, number: str, phone: str | None, code: str | None) -> str:
        return self._signer.dumps({"n": number, "p": phone, "c": code})

    def read(self, token: str) -> dict[str, str | None] | None:
        try:
            data = self._signer.loads(token, max_age=PROOF_MINUTES * 60)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("n"), str):
            return None
        return {k: v if isinstance(v, str) else None for k, v in data.items()}


def page_fields(
    proof: Proof, *, number: str, phone: str | None, code: str | None
) -> dict[str, Any]:
    """The hidden fields of a successful lookup's page."""
    return {
        "proof": proof.issue(number=number, phone=phone, code=code),
        "client_token": uuid.uuid4().hex,
    }


class StatusAnswers:
    def __init__(
        self,
        render: Render,
        *,
        channel: str,
        tickets: TicketParts,
        clock: Clock,
        secret_key: str,
        trusted_proxies: Sequence[str],
    ) -> None:
        self._tickets = tickets
        self._clock = clock
        self._trusted_proxies = trusted_proxies
        self._render = render
        self._channel = channel
        self.proof = Proof(secret_key)

    async def reply(self, request: Request) -> HTMLResponse:
        """The answer to staff's question (`ask`)."""
        form = await request.form(max_files=0, max_fields=10, max_part_size=MAX_FIELD)
        answer = str(form.get("answer") or "")
        checked = await self._checked(request, str(form.get("proof") or ""))
        if isinstance(checked, HTMLResponse):
            return checked
        status, context = checked
        key = str(form.get("client_token") or "")[:64] or uuid.uuid4().hex
        try:
            await answer_question(
                self._tickets,
                number=status.number,
                text=answer,
                channel=self._channel,
                external_id=_external_id(status.number, key),
                received_at=self._clock(),
            )
        except InvalidInput as exc:
            context.update(answer=answer[:MAX_ANSWER], answer_error=str(exc))
            return self._render(request, context, status_code=422)
        except Conflict as exc:
            context["notice"] = str(exc)
            return self._render(request, context, status_code=409)
        except Unavailable as exc:
            context["notice"] = str(exc)
            return self._render(request, context, status_code=503)
        log.info("status page: answer to the question on %s", status.number)
        context.update(notice=ANSWERED, answered=True)
        return self._render(request, context)

    async def rate(self, request: Request) -> HTMLResponse:
        """The rating after closure: 满意 / 基本满意 / 不满意."""
        form = await request.form(max_files=0, max_fields=10, max_part_size=1024)
        rating = str(form.get("rating") or "")
        checked = await self._checked(request, str(form.get("proof") or ""))
        if isinstance(checked, HTMLResponse):
            return checked
        status, context = checked
        try:
            outcome = await rate(
                self._tickets, number=status.number, rating=rating, channel=self._channel
            )
        except InvalidInput as exc:
            context["rating_error"] = str(exc)
            return self._render(request, context, status_code=422)
        except Unavailable as exc:
            context["notice"] = str(exc)
            return self._render(request, context, status_code=503)
        log.info("status page: rating of %s: %s", status.number, outcome.status)
        key = outcome.status
        if key == "recorded" and outcome.rating == "unsatisfied":
            key = "unsatisfied"
        context["notice"] = RATED[key].format(rating=RATING_ZH.get(rating, ""))
        context["status"] = await self._fresh(context)
        return self._render(request, context, status_code=200 if key != "unmatched" else 409)

    async def _checked(
        self, request: Request, token: str
    ) -> HTMLResponse | tuple[PublicStatus, dict[str, Any]]:
        """The lookup again, with the signed proof, under the lookup's limits."""
        given = self.proof.read(token)
        if given is None:
            return self._render(request, {"refused": EXPIRED}, status_code=400)
        number, phone, code = given["n"] or "", given.get("p"), given.get("c")
        context: dict[str, Any] = {"number": number, "code": code or phone or ""}
        try:
            status = await lookup_within_limits(
                self._tickets,
                ip=client_address(request.scope, self._trusted_proxies),
                number=number,
                phone=phone,
                code=code,
            )
        except NotFound:
            return self._render(request, {**context, "not_found": True}, status_code=404)
        except TooManyRequests as exc:
            context["refused"] = str(exc)
            headers = {"Retry-After": str(exc.retry_after)}
            return self._render(request, context, status_code=429, headers=headers)
        context["status"] = status
        context.update(page_fields(self.proof, number=number, phone=phone, code=code))
        return status, context

    async def _fresh(self, context: dict[str, Any]) -> PublicStatus:
        """The status after the change, for the page: the request already passed the limits."""
        proof = self.proof.read(str(context["proof"]))
        assert proof is not None
        try:
            return await public_status(
                self._tickets, number=proof["n"] or "", phone=proof.get("p"), code=proof.get("c")
            )
        except NotFound:  # erased in between: what the page showed before
            status: PublicStatus = context["status"]
            return status


def _external_id(number: str, key: str) -> str:
    """One answer per page shown: a double submission is the same message."""
    return "status-" + hashlib.sha256(f"{number}|{key}".encode()).hexdigest()[:40]
