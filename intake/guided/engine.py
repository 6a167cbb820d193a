"""The guided request: ask for what a handler needs before a request from a chat is filed.

Two shapes share one engine. A chat (WeChat): a new request that a rule says needs a place or a
contact phone, and lacks it, is held as a draft while the bot asks (one reply per message); the
answers are added to the draft, which is filed as ONE message (all parts, files, location,
phone) when nothing is missing, when the citizen says so (“提交”), or when the conversation
times out; “取消” drops it. A form (Telegram's /new): the catalogue's steps one after the other,
answered with buttons, filed when the last is answered, dropped when abandoned.

Each step runs under a per-citizen lock and records its answer with the draft, so a retried
message gets the same answer and files nothing twice. Status queries and ticket numbers pass
through to the core untouched. The engine says what to ask (`Step.text`, `Step.asking`); the
channel renders it (a passive reply, a message with a keyboard).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace

from intake.cancellation import stop_if_cancelled
from intake.domain.clock import Clock
from intake.domain.errors import TooManyRequests
from intake.domain.messages import InboundMessage, MessageKind, SenderIdentity
from intake.domain.phones import find_phone, looks_like_a_number, mask_phone, without_phone
from intake.guided import form
from intake.guided.catalogue import GuidedCatalogue, Language
from intake.guided.draft import Draft, Step, filed_message, has_content, part_of
from intake.guided.screen import Screen, passes_through
from intake.guided.store import DraftStore
from intake.interfaces import IntakeGateway
from intake.ratelimit.attempts import Limiter
from intake.resilience import OutageGuard, is_outage

log = logging.getLogger(__name__)

KnownPhone = Callable[[str, str], Awaitable[str | None]]
FORM = "form"  # the rule id of a step-by-step request
FORM_KEEP_S = 86_400.0  # an abandoned form is dropped after a day
_TEXT_KINDS = frozenset({MessageKind.TEXT, MessageKind.VOICE})


async def _no_phone(account: str, user: str) -> str | None:
    return None


class GuidedRequests:
    def __init__(
        self,
        *,
        catalogue: GuidedCatalogue,
        store: DraftStore,
        gateway: IntakeGateway,
        clock: Clock,
        channel: str,
        timeout_s: float,
        screen: Screen | None = None,
        known_phone: KnownPhone = _no_phone,
        language: Language = "zh",
        lock_wait_s: float = 2.0,
        limiter: Limiter | None = None,
    ) -> None:
        """`screen` enables chats (rule-started conversations); without it only forms and
        menu-started requests are guided."""
        self.catalogue, self._store, self._gateway = catalogue, store, gateway
        self._screen, self._known_phone = screen, known_phone
        self._channel, self._language = channel, language
        self._timeout, self._clock, self._lock_wait = timeout_s, clock, lock_wait_s
        self._limiter = limiter

    # ----- what a channel calls

    async def on_message(self, message: InboundMessage) -> Step | None:
        """The answer when the conversation takes this message; None: submit it as usual."""
        account, user = message.sender.account, message.sender.value
        step, has_draft = await self._store.peek(account, user, message.external_id)
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
        """A menu's "file a request": start a chat draft (or repeat the pending question)."""
        step = await self._locked(message, self._menu_step)
        return step or Step(text=self._say("ask_text"), asking="text")

    async def start_form(self, message: InboundMessage) -> Step:
        """A new step-by-step request (one open before it is dropped): its first question."""
        step = await self._locked(message, self._form_step)
        first = self.catalogue.form.needs[0]
        return step or Step(text=self.say_form(f"ask_{first}"), asking=first)

    async def asking(self, sender: SenderIdentity) -> str | None:
        """The need the citizen's open draft asks for; None without one."""
        draft = await self._store.load(sender.account, sender.value)
        return draft.asking if draft is not None else None

    async def drop(self, sender: SenderIdentity) -> None:
        """Forget the citizen's open draft, unfiled (they started over)."""
        await self._store.commit(account=sender.account, user=sender.value, draft=None)

    def say_form(self, name: str, **values: object) -> str:
        return self.catalogue.form.texts[name].render(self._language, **values)

    # ----- the steps

    async def _locked(
        self, message: InboundMessage, act: Callable[[InboundMessage], Awaitable[Step | None]]
    ) -> Step | None:
        account, user = message.sender.account, message.sender.value
        async with self._store.locked(account, user, wait=self._lock_wait) as obtained:
            if not obtained:  # never lose the text: the core takes it as a message of its own
                log.warning("%s dialog busy external_id=%s", self._channel, message.external_id)
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
            step = Step(text=self._prompt(draft), asking=draft.asking) if draft else None
        elif draft.rule == FORM:
            step, draft = await self._continue_form(draft, message)
        elif message.text and passes_through(message.text):
            return None
        else:
            step, draft = await self._continue(draft, message)
        if step is not None:
            await self._commit(message, draft, step)
        return step

    async def _menu_step(self, message: InboundMessage) -> Step:
        draft, _ = await self._current(message)
        if draft is None:
            needs = ["text", *self.catalogue.menu_needs]
            draft = self._new_draft(message, rule="menu", needs=needs)
            if "phone" in needs:
                draft.phone = await self._known_phone(draft.account, draft.openid)
            self._ask(draft, "text")
        step = Step(text=self._prompt(draft), asking=draft.asking)
        await self._commit(message, draft, step)
        return step

    async def _form_step(self, message: InboundMessage) -> Step:
        draft = self._new_draft(message, rule=FORM, needs=list(self.catalogue.form.needs))
        self._ask(draft, draft.missing(None)[0])
        step = Step(text=self._prompt(draft), asking=draft.asking)
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
        overdue = draft.rule != FORM and draft.deadline <= now  # a form is dropped, not filed
        return overdue or draft.filing is not None

    def _may_start(self, message: InboundMessage) -> bool:
        text = message.text
        if self._screen is None or message.kind not in _TEXT_KINDS:
            return False
        if not text.strip() or passes_through(text):
            return False
        return self.catalogue.rule_for(text) is not None

    async def _start(self, message: InboundMessage) -> Draft | None:
        rule = self.catalogue.rule_for(message.text) if self._may_start(message) else None
        if rule is None or self._screen is None:
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
        missing = draft.missing(self.catalogue.max_asks)
        if not missing:
            return None
        self._ask(draft, missing[0])
        log.info(
            "%s dialog started draft=%s rule=%s asking=%s",
            self._channel,
            draft.id,
            rule.id,
            draft.asking,
        )
        return draft

    async def _continue(self, draft: Draft, message: InboundMessage) -> tuple[Step, Draft | None]:
        text = message.text
        if text and self.catalogue.is_cancel(text):
            log.info("%s dialog cancelled draft=%s", self._channel, draft.id)
            return Step(text=self._say("cancelled")), None
        if text and self.catalogue.is_finish(text):
            return await self._finish(draft, message, reason="citizen")
        draft.parts.append(part_of(message))
        invalid, urgent = self._absorb(draft, message)
        missing = draft.missing(self.catalogue.max_asks)
        if urgent or not missing:
            return await self._finish(draft, message, reason="urgent" if urgent else "complete")
        self._ask(draft, missing[0])
        return Step(text=self._prompt(draft, invalid_phone=invalid), asking=draft.asking), draft

    async def _continue_form(
        self, draft: Draft, message: InboundMessage
    ) -> tuple[Step, Draft | None]:
        answer = form.take(self.catalogue.form, draft, message)
        if answer.cancelled:
            log.info("%s form cancelled draft=%s", self._channel, draft.id)
            return Step(text=self.say_form("cancelled")), None
        count = form.attachment_count(draft)
        notes = tuple(self.say_form(name, count=count) for name in answer.notes)
        if answer.reprompt is not None:
            return Step(text=self.say_form(answer.reprompt), asking=draft.asking), draft
        if not answer.moved:
            return Step(notes=notes, asking=draft.asking), draft
        missing = draft.missing(None)
        if not missing:
            filed, _ = await self._finish(draft, message, reason="complete")
            return replace(filed, notes=notes), None
        self._ask(draft, missing[0])
        return Step(text=self._prompt(draft), asking=draft.asking, notes=notes), draft

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
        screened = self._screen.check(text) if self._screen else None
        rest = without_phone(text)
        if draft.asking == "place" and sum(ch.isalnum() for ch in rest) >= 2:
            draft.place = rest[:300]
        draft.place_named = draft.place_named or bool(screened and screened.names_place)
        invalid = draft.asking == "phone" and phone is None and looks_like_a_number(text)
        return invalid, bool(screened and screened.file_now)

    # ----- filing

    async def _finish(
        self, draft: Draft, message: InboundMessage, *, reason: str
    ) -> tuple[Step, None]:
        """File the draft, marked first so that a crash in between files it later."""
        if not has_content(draft):
            return Step(text=self._say("nothing_to_file")), None
        if await self._over_limit(draft, reason=reason):
            too_many = self.say_form if draft.rule == FORM else self._say
            return Step(text=too_many("too_many")), None
        draft.filing = message.external_id
        await self._store.commit(account=draft.account, user=draft.openid, draft=draft)
        return await self._file(draft, reason=reason), None

    async def _file(self, draft: Draft, *, reason: str) -> Step:
        message = filed_message(draft, reason=reason)
        receipt = await self._gateway.submit(message, open_ticket=True)
        log.info(
            "%s dialog filed draft=%s ticket=%s reason=%s parts=%d phone=%s",
            self._channel,
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
        await self._store.commit(account=draft.account, user=draft.openid, draft=None)
        return step

    async def _over_limit(self, draft: Draft, *, reason: str) -> bool:
        """Whether the sender is over the submission limit: the draft is numbered as soon as
        it is filed, so the core's flood guard never sees it (a retry of a filed one passes)."""
        if self._limiter is None:
            return False
        sender = ":".join(x for x in (draft.channel, draft.account, draft.openid) if x)
        try:
            await self._limiter.admit_submission(
                ip=None,
                sender=sender,
                idempotency_key=filed_message(draft, reason=reason).idempotency_key,
            )
        except TooManyRequests:
            log.info("%s dialog draft=%s not filed: over the limit", self._channel, draft.id)
            return True
        return False

    # ----- state and words

    async def _commit(self, message: InboundMessage, draft: Draft | None, step: Step) -> None:
        keep = FORM_KEEP_S if draft is not None and draft.rule == FORM else None
        await self._store.commit(
            account=message.sender.account,
            user=message.sender.value,
            draft=draft,
            message_id=message.external_id,
            step=step,
            keep_s=keep,
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
            channel=self._channel,
            identity=message.sender.kind.value,
            display_name=message.sender.display_name,
        )

    def _ask(self, draft: Draft, need: str) -> None:
        draft.asking = need
        draft.asks[need] = draft.asks.get(need, 0) + 1
        draft.deadline = self._now() + self._timeout

    def _prompt(self, draft: Draft, *, invalid_phone: bool = False) -> str:
        if draft.rule == FORM:
            return self.say_form(f"ask_{draft.asking}")
        name = "phone_invalid" if invalid_phone else f"ask_{draft.asking}"
        return self._say(name, minutes=max(1, round(self._timeout / 60)))

    def _say(self, name: str, **values: object) -> str:
        return self.catalogue.texts[name].render(self._language, **values)

    def _now(self) -> float:
        return self._clock().timestamp()

    # ----- timeouts

    async def file_overdue(self) -> int:
        """File every draft past its deadline (the background sweep); returns how many."""
        now, filed = self._now(), 0
        for account, user in await self._store.due(now, limit=500):
            async with self._store.locked(account, user, wait=0.5) as obtained:
                draft = await self._store.load(account, user) if obtained else None
                if draft is None:
                    if obtained:
                        await self._store.forget_deadline(account, user)
                    continue
                if self._ripe(draft, now):
                    await self._close(draft, reason="resumed" if draft.filing else "timeout")
                    filed += 1
        return filed

    async def run(self, *, interval_s: float) -> None:
        """The sweep loop of `intake run` / `intake worker`: overdue drafts become tickets."""
        outages = OutageGuard(f"{self._channel} dialog sweep", logger=log)
        while True:
            stop_if_cancelled()
            try:
                await self.file_overdue()
                outages.ok()
            except Exception as exc:  # a Redis/DB outage or a bug must not end the loop
                if is_outage(exc):
                    await outages.pause(exc)
                    continue
                log.exception("%s dialog sweep failed; retrying", self._channel)
            await asyncio.sleep(interval_s)
