"""The guided conversation: ask for what a handler needs before a WeChat request is filed.

A new request that a rule says needs a place or a contact phone, and lacks it, is held as a
draft while the bot asks (one passive reply per message, inside WeChat's window). The answers
are added to the draft; it is filed as ONE message (all parts, files, location, phone) when
nothing is missing, when the citizen says so (“提交”), or when the conversation times out; “取消”
drops it. Each step runs under a per-citizen lock and records its answer with the draft, so a
retried MsgId gets the same answer and files nothing twice. Status queries and ticket numbers
pass through to the core untouched.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from sqlalchemy import bindparam, select

from channels.base import IntakeGateway
from intake.cancellation import stop_if_cancelled
from intake.clock import Clock
from intake.db import Database
from intake.errors import TooManyRequests
from intake.limits import Limiter
from intake.messages import InboundMessage, MessageKind
from intake.models import CitizenIdentity, Ticket
from intake.phones import mask_phone
from intake.pipeline.intent import STATUS_WORDS, TICKET_NUMBER, normalized
from intake.resilience import OutageGuard, is_outage
from intake.triage import Triage

from .contact import find_phone, looks_like_a_number, without_phone
from .dialog_rules import DialogRules
from .dialog_store import DialogStore, Draft, Step, filed_message, has_content, part_of

log = logging.getLogger(__name__)

KnownPhone = Callable[[str, str], Awaitable[str | None]]
# a query code has letters; eight digits alone are more likely part of a phone number
QUERY_CODE = re.compile(r"(?<![A-Z0-9])(?=[2-9]*[A-HJ-NP-Z])[2-9A-HJ-NP-Z]{8}(?![A-Z0-9])")
_TEXT_KINDS = frozenset({MessageKind.TEXT, MessageKind.VOICE})
# said when a sender over the submission limit finishes a draft (`texts.too_many` overrides)
TOO_MANY = "您提交的诉求过于频繁，本次内容未能受理，请稍后再试；紧急情况请拨打12345热线。"


@dataclass(frozen=True, slots=True)
class Screened:
    names_place: bool
    file_now: bool  # an emergency, urgent, out of scope or answered from the knowledge base


class Screen:
    """Looks at a text with the rules' address patterns and, when enabled, triage."""

    def __init__(self, rules: DialogRules, triage: Triage | None) -> None:
        self._rules, self._triage = rules, triage

    def check(self, text: str) -> Screened:
        address = self._rules.names_address(text)
        if self._triage is None:
            return Screened(address, False)
        decision = self._triage.assess(text)
        place = address or decision.routing.district is not None
        special = decision.emergency, decision.out_of_scope, decision.kb_answer
        return Screened(place, decision.urgent or any(x is not None for x in special))


def passes_through(text: str) -> bool:
    """Status queries and messages about an existing ticket are the core's, never a draft's."""
    upper = unicodedata.normalize("NFKC", text).upper()
    return (
        normalized(text) in STATUS_WORDS
        or TICKET_NUMBER.search(upper) is not None
        or QUERY_CODE.search(upper) is not None
    )


class Dialog:
    def __init__(
        self,
        *,
        rules: DialogRules,
        store: DialogStore,
        gateway: IntakeGateway,
        screen: Screen,
        known_phone: KnownPhone,
        timeout_s: float,
        clock: Clock,
        lock_wait_s: float = 2.0,
        limiter: Limiter | None = None,
    ) -> None:
        self._rules, self._store, self._gateway = rules, store, gateway
        self._screen, self._known_phone = screen, known_phone
        self._timeout, self._clock, self._lock_wait = timeout_s, clock, lock_wait_s
        self._limiter = limiter

    async def on_message(self, message: InboundMessage) -> Step | None:
        """The answer when the conversation takes this message; None: submit it as usual."""
        account, openid = message.sender.account, message.sender.value
        step, has_draft = await self._store.peek(account, openid, message.external_id)
        if step is not None or not (has_draft or self._may_start(message)):
            return step
        return await self._locked(message, self._step)

    def guards(self, message: InboundMessage) -> list[str] | None:
        """The keys whose existence hands this message to the conversation (its own recorded
        step, the citizen's draft), for a submission guarded by them; None when the message
        could start a conversation and must go through `on_message` first."""
        if self._may_start(message):
            return None
        return self._store.guard_keys(
            message.sender.account, message.sender.value, message.external_id
        )

    async def on_menu(self, message: InboundMessage) -> Step:
        """The menu's "file a request": start a draft (or repeat the pending question)."""
        step = await self._locked(message, self._menu_step)
        return step or Step(text=self._rules.text("ask_text"))

    async def _locked(
        self, message: InboundMessage, act: Callable[[InboundMessage], Awaitable[Step | None]]
    ) -> Step | None:
        account, openid = message.sender.account, message.sender.value
        async with self._store.locked(account, openid, wait=self._lock_wait) as obtained:
            if not obtained:  # never lose the text: the core takes it as a message of its own
                log.warning("wechat dialog busy external_id=%s", message.external_id)
                return None
            done = await self._store.step(account, message.external_id)
            return done if done is not None else await act(message)

    async def _step(self, message: InboundMessage) -> Step | None:
        draft, resumed = await self._current(message)
        if resumed is not None:  # this very message was filing the draft when a crash hit
            await self._commit(message, None, resumed)
            return resumed
        if draft is None:
            draft = await self._start(message)
            step = Step(text=self._prompt(draft)) if draft else None
        elif message.text and passes_through(message.text):
            return None
        else:
            step, draft = await self._continue(draft, message)
        if step is not None:
            await self._commit(message, draft, step)
        return step

    async def _menu_step(self, message: InboundMessage) -> Step:
        account, openid = message.sender.account, message.sender.value
        draft, _ = await self._current(message)
        if draft is None:
            needs = ["text", *self._rules.menu_needs]
            draft = self._new_draft(message, rule="menu", needs=needs)
            if "phone" in needs:
                draft.phone = await self._known_phone(account, openid)
            self._ask(draft, "text")
        step = Step(text=self._prompt(draft))
        await self._commit(message, draft, step)
        return step

    async def _current(self, message: InboundMessage) -> tuple[Draft | None, Step | None]:
        """The open draft. An overdue one (the sweep may not have run yet), or one a crash
        left half-filed, is filed first; the step is returned when `message` was filing it."""
        draft = await self._store.load(message.sender.account, message.sender.value)
        if draft is None or not self._ripe(draft, self._now()):
            return draft, None
        step = await self._close(draft, reason="resumed" if draft.filing else "timeout")
        return None, (step if draft.filing == message.external_id else None)

    @staticmethod
    def _ripe(draft: Draft, now: float) -> bool:
        return draft.deadline <= now or draft.filing is not None

    def _may_start(self, message: InboundMessage) -> bool:
        text = message.text
        if message.kind not in _TEXT_KINDS or not text.strip() or passes_through(text):
            return False
        return self._rules.rule_for(text) is not None

    async def _start(self, message: InboundMessage) -> Draft | None:
        rule = self._rules.rule_for(message.text) if self._may_start(message) else None
        if rule is None:
            return None
        screened = self._screen.check(message.text)
        if screened.file_now:
            return None
        draft = self._new_draft(message, rule=rule.id, needs=list(rule.needs))
        draft.parts.append(part_of(message))
        draft.place_named = screened.names_place
        draft.phone = find_phone(message.text)
        if "phone" in draft.needs and draft.phone is None:
            draft.phone = await self._known_phone(draft.account, draft.openid)
        missing = draft.missing(self._rules.max_asks)
        if not missing:
            return None
        self._ask(draft, missing[0])
        log.info(
            "wechat dialog started draft=%s rule=%s asking=%s", draft.id, rule.id, draft.asking
        )
        return draft

    async def _continue(self, draft: Draft, message: InboundMessage) -> tuple[Step, Draft | None]:
        text = message.text
        if text and self._rules.is_cancel(text):
            log.info("wechat dialog cancelled draft=%s", draft.id)
            return Step(text=self._rules.text("cancelled")), None
        if text and self._rules.is_finish(text):
            return await self._finish(draft, message, reason="citizen")
        draft.parts.append(part_of(message))
        invalid, urgent = self._absorb(draft, message)
        missing = draft.missing(self._rules.max_asks)
        if urgent or not missing:
            return await self._finish(draft, message, reason="urgent" if urgent else "complete")
        self._ask(draft, missing[0])
        return Step(text=self._prompt(draft, invalid_phone=invalid)), draft

    def _absorb(self, draft: Draft, message: InboundMessage) -> tuple[bool, bool]:
        """Take what the message answers; (an invalid phone was typed, file it at once)."""
        if message.kind is MessageKind.LOCATION and message.location is not None:
            draft.location = asdict(message.location)
            return False, False
        text = message.text
        if message.kind not in _TEXT_KINDS or not text.strip():
            return False, False
        phone = find_phone(text)
        draft.phone = phone or draft.phone
        screened = self._screen.check(text)
        rest = without_phone(text)
        if draft.asking == "place" and sum(ch.isalnum() for ch in rest) >= 2:
            draft.place = rest[:300]
        draft.place_named = draft.place_named or screened.names_place
        invalid = draft.asking == "phone" and phone is None and looks_like_a_number(text)
        return invalid, screened.file_now

    async def _finish(
        self, draft: Draft, message: InboundMessage, *, reason: str
    ) -> tuple[Step, None]:
        """File the draft, marked first so that a crash in between files it later."""
        if not has_content(draft):
            return Step(text=self._rules.text("nothing_to_file")), None
        if await self._over_limit(draft, reason=reason):
            return Step(text=self._rules.texts.get("too_many", TOO_MANY)), None
        draft.filing = message.external_id
        await self._store.commit(account=draft.account, openid=draft.openid, draft=draft)
        return await self._file(draft, reason=reason), None

    async def _file(self, draft: Draft, *, reason: str) -> Step:
        message = filed_message(draft, reason=reason)
        receipt = await self._gateway.submit(message, open_ticket=True)
        log.info(
            "wechat dialog filed draft=%s ticket=%s reason=%s parts=%d phone=%s",
            draft.id,
            receipt.number,
            reason,
            len(draft.parts),
            mask_phone(draft.phone),
        )
        return Step(
            filed=message.external_id,
            number=receipt.number,
            query_code=receipt.query_code,
            emergency=receipt.emergency.to_dict() if receipt.emergency else None,
        )

    async def _close(self, draft: Draft, *, reason: str) -> Step | None:
        """File (if there is anything) and delete a draft; filing twice is one ticket. A
        draft that was not filing yet is dropped when its sender is over the limit."""
        fileable = has_content(draft)
        if fileable and draft.filing is None and await self._over_limit(draft, reason=reason):
            fileable = False
        step = await self._file(draft, reason=reason) if fileable else None
        await self._store.commit(account=draft.account, openid=draft.openid, draft=None)
        return step

    async def _over_limit(self, draft: Draft, *, reason: str) -> bool:
        """Whether the sender is over the submission limit: the draft is numbered as soon as
        it is filed, so the core's flood guard never sees it (a retry of a filed one passes)."""
        if self._limiter is None:
            return False
        try:
            await self._limiter.admit_submission(
                ip=None,
                sender=f"wechat:{draft.account}:{draft.openid}",
                idempotency_key=filed_message(draft, reason=reason).idempotency_key,
            )
        except TooManyRequests:
            log.info("wechat dialog draft=%s not filed: sender over the limit", draft.id)
            return True
        return False

    async def _commit(self, message: InboundMessage, draft: Draft | None, step: Step) -> None:
        await self._store.commit(
            account=message.sender.account,
            openid=message.sender.value,
            draft=draft,
            message_id=message.external_id,
            step=step,
        )

    def _new_draft(self, message: InboundMessage, *, rule: str, needs: list[str]) -> Draft:
        return Draft(
            id=message.external_id,
            account=message.sender.account,
            openid=message.sender.value,
            rule=rule,
            needs=needs,
            asking="",
            deadline=self._now() + self._timeout,
            started_at=message.received_at.isoformat(),
        )

    def _ask(self, draft: Draft, need: str) -> None:
        draft.asking = need
        draft.asks[need] = draft.asks.get(need, 0) + 1
        draft.deadline = self._now() + self._timeout

    def _prompt(self, draft: Draft, *, invalid_phone: bool = False) -> str:
        name = "phone_invalid" if invalid_phone else f"ask_{draft.asking}"
        return self._rules.text(name, minutes=max(1, round(self._timeout / 60)))

    def _now(self) -> float:
        return self._clock().timestamp()

    async def file_overdue(self) -> int:
        """File every draft past its deadline (the background sweep); returns how many."""
        now, filed = self._now(), 0
        for account, openid in await self._store.due(now, limit=500):
            async with self._store.locked(account, openid, wait=0.5) as obtained:
                draft = await self._store.load(account, openid) if obtained else None
                if draft is None:
                    if obtained:
                        await self._store.forget_deadline(account, openid)
                    continue
                if self._ripe(draft, now):
                    await self._close(draft, reason="resumed" if draft.filing else "timeout")
                    filed += 1
        return filed

    async def run(self, *, interval_s: float) -> None:
        """The sweep loop of `intake run` / `intake worker`: overdue drafts become tickets."""
        outages = OutageGuard("wechat dialog sweep", logger=log)
        while True:
            stop_if_cancelled()
            try:
                await self.file_overdue()
                outages.ok()
            except Exception as exc:  # a Redis/DB outage or a bug must not end the loop
                if is_outage(exc):
                    await outages.pause(exc)
                    continue
                log.exception("wechat dialog sweep failed; retrying")
            await asyncio.sleep(interval_s)


# built once: statements made per call would defeat SQLAlchemy's statement cache (milliseconds)
_PHONE_OF = (
    select(Ticket.contact_phone)
    .join(CitizenIdentity, CitizenIdentity.citizen_id == Ticket.citizen_id)
    .where(CitizenIdentity.kind == "wechat", Ticket.contact_phone.is_not(None))
    .where(
        CitizenIdentity.account == bindparam("account"),
        CitizenIdentity.value == bindparam("openid"),
    )
    .order_by(Ticket.id.desc())
    .limit(1)
)


async def phone_on_file(db: Database, account: str, openid: str) -> str | None:
    """The contact phone this openid's citizen gave on their latest ticket, if any (a phone
    typed in WeChat is never vouched for, so it is found on tickets, not as an identity)."""
    async with db.read() as session:
        return await session.scalar(_PHONE_OF, {"account": account, "openid": openid})
