"""The mailbox reader: IMAP mail into the intake stream, none lost, none twice.

One loop per mailbox (`intake worker --only email`, and inside `intake run`):
connect (TLS / STARTTLS / plain) → SELECT → compare UIDVALIDITY with the stored cursor (a
change resets it: the folder is read again) → `UID SEARCH` above the cursor, filtered on the
client → per batch: FETCH, parse, save attachments, `gateway.submit` (durable on the intake
stream, deduped by (email, Message-ID)) → only then mark the batch processed on the server
(MOVE / COPY+EXPUNGE / flag) → only then advance the cursor → IDLE (or sleep when the server
has no IDLE) → again. A dropped connection or any failure reconnects after an exponential
backoff with jitter; whatever was submitted but not yet marked is fetched again and deduped.
Mail that cannot be read (parse gives UNKNOWN) goes once to the dead-letter stream, raw bytes
kept, and is marked processed like any other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass

import redis.asyncio as aioredis

from channels.email.cursor import Cursor, CursorStore, DeadLetters
from channels.email.imap import ImapSession
from channels.email.imap_data import FetchedMail, FolderState
from channels.email.parse import ParsedMail, parse_mail
from channels.email.settings import EmailSettings
from intake.cancellation import stop_if_cancelled
from intake.domain.clock import Clock
from intake.domain.messages import (
    Attachment,
    IdentityKind,
    InboundMessage,
    MessageKind,
    SenderIdentity,
)
from intake.ingest.attachments import AttachmentStore
from intake.interfaces import IntakeGateway
from intake.redis.keys import Keys
from intake.resilience import OutageLog, is_outage

log = logging.getLogger(__name__)

INGEST_CONCURRENCY = 16


@dataclass
class ReaderStats:
    """Counters for logs, tests and the benchmark."""

    connects: int = 0
    syncs: int = 0
    fetched: int = 0
    submitted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    marked: int = 0
    resyncs: int = 0
    idles: int = 0
    polls: int = 0
    failures: int = 0


class MailboxReader:
    def __init__(
        self,
        settings: EmailSettings,
        *,
        gateway: IntakeGateway,
        redis: aioredis.Redis,
        keys: Keys,
        clock: Clock,
        attachments: AttachmentStore,
        rng: random.Random | None = None,
    ) -> None:
        self._gateway = gateway
        self._clock = clock
        self._attachments = attachments
        self._s = settings
        self._rng = rng or random.Random()
        mailbox = (
            f"{settings.login_user}@{settings.imap_host}:{settings.imap_port_resolved}"
            f"/{settings.imap_folder}"
        )
        self.cursor = CursorStore(redis, keys, mailbox)
        self._dead = DeadLetters(redis, keys)
        self.stats = ReaderStats()
        self._attempt = 0
        self._outage = OutageLog(f"email reader {settings.imap_folder}", logger=log)

    async def run(self) -> None:
        """Read the mailbox until cancelled; never gives up on a failure."""
        log.info("email reader for %s started", self._s.imap_folder)
        while True:
            stop_if_cancelled()
            try:
                await self._connect_and_serve()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect on anything: the loop must survive
                self.stats.failures += 1
                delay = self.backoff_delay(self._attempt)
                self._attempt += 1
                if is_outage(exc):  # Redis or the database: logged once per outage
                    self._outage.failed(exc)
                else:
                    log.warning(
                        "email reader: %s: %s; reconnecting in %.1f s",
                        type(exc).__name__,
                        str(exc)[:200],
                        delay,
                    )
                await asyncio.sleep(delay)

    async def _connect_and_serve(self) -> None:
        session = await ImapSession.open(self._s)
        self.stats.connects += 1
        try:
            await self._serve(session)
        finally:
            await session.close()

    def backoff_delay(self, attempt: int) -> float:
        """Exponential with 'equal jitter': between half and all of the capped delay."""
        delay = min(self._s.backoff_max, self._s.backoff_initial * 2 ** min(attempt, 30))
        return self._rng.uniform(delay / 2, delay)

    async def _serve(self, session: ImapSession) -> None:
        if self._s.processed_action != "flag":
            await session.ensure_folder(self._s.processed_folder)
        while True:
            stop_if_cancelled()
            await self.sync(session)
            self._attempt = 0
            self._outage.recovered()
            if session.has_idle:
                self.stats.idles += 1
                await session.wait_for_news(self._s.idle_timeout)
            else:
                self.stats.polls += 1
                await session.wait_for_news(self._s.poll_interval)

    async def sync(self, session: ImapSession) -> int:
        """Read everything new in the folder; returns the number of mails handled."""
        state = await session.select(self._s.imap_folder)
        cursor = await self._cursor_for(state)
        handled = 0
        if state.uidnext is None or state.uidnext > cursor.last_uid + 1:
            keyword = self._s.processed_keyword if self._s.processed_action == "flag" else None
            uids = await session.uids_after(cursor.last_uid, unkeyword=keyword)
            handled = await self._read(session, list(_chunks(uids, self._s.fetch_batch)), state)
        self.stats.syncs += 1
        return handled

    async def _read(self, session: ImapSession, chunks: list[list[int]], state: FolderState) -> int:
        """Per chunk: ingest, mark, advance the cursor; the next FETCH runs meanwhile."""
        handled = 0
        pending = asyncio.ensure_future(session.fetch(chunks[0])) if chunks else None
        try:
            for index, chunk in enumerate(chunks):
                assert pending is not None
                mails = await pending
                more = index + 1 < len(chunks)
                pending = asyncio.ensure_future(session.fetch(chunks[index + 1])) if more else None
                await self._ingest_all(mails, state.uidvalidity)
                await session.mark_processed([m.uid for m in mails])
                self.stats.marked += len(mails)
                await self.cursor.save(Cursor(state.uidvalidity, max(chunk)))
                handled += len(mails)
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
        return handled

    async def _ingest_all(self, mails: list[FetchedMail], uidvalidity: int) -> None:
        """Parse in UID order; the gateway round trips overlap (a few at a time)."""
        limit = asyncio.Semaphore(INGEST_CONCURRENCY)

        async def one(mail: FetchedMail) -> None:
            async with limit:
                await self.ingest(mail, uidvalidity)

        async with asyncio.TaskGroup() as group:  # one failure cancels the rest
            for mail in mails:
                group.create_task(one(mail))

    async def _cursor_for(self, state: FolderState) -> Cursor:
        cursor = await self.cursor.load()
        if cursor is not None and cursor.uidvalidity == state.uidvalidity:
            return cursor
        if cursor is not None:
            self.stats.resyncs += 1
            log.warning(
                "email reader: UIDVALIDITY of %s changed (%d -> %d): reading the folder again",
                self._s.imap_folder,
                cursor.uidvalidity,
                state.uidvalidity,
            )
        cursor = Cursor(state.uidvalidity, 0)
        await self.cursor.save(cursor)
        return cursor

    async def ingest(self, mail: FetchedMail, uidvalidity: int) -> None:
        """One fetched mail into the intake stream (or the dead-letter stream)."""
        self.stats.fetched += 1
        origin = f"imap:{self._s.imap_folder}:{uidvalidity}:{mail.uid}"
        parsed = self._parse(mail)
        if parsed is None or parsed.message.kind is MessageKind.UNKNOWN:
            await self._bury(mail, parsed, origin)
            return
        message = await self._with_stored_attachments(parsed)
        receipt = await self._gateway.submit(message)
        if receipt.duplicate:
            self.stats.duplicates += 1
        else:
            self.stats.submitted += 1
        log.debug(
            "email %s uid=%d external_id=%s class=%s duplicate=%s",
            self._s.imap_folder,
            mail.uid,
            message.external_id[:120],
            message.fields.get("classification"),
            receipt.duplicate,
        )

    def _parse(self, mail: FetchedMail) -> ParsedMail | None:
        try:
            return parse_mail(
                mail.raw,
                mailbox_address=self._s.address,
                received_at=mail.internaldate or self._clock(),
                domain=self._s.domain,
                own_addresses=self._s.own,
                max_attachment_bytes=self._s.max_attachment_bytes,
            )
        except Exception:  # parse_mail is total; this is a last guard, not a path
            log.exception("email uid=%d: parser failed", mail.uid)
            return None

    async def _bury(self, mail: FetchedMail, parsed: ParsedMail | None, origin: str) -> None:
        message = parsed.message if parsed else self._unreadable(mail)
        notes = "; ".join(parsed.notes) if parsed else "parser failed"
        dead_id = await self._dead.bury(message, reason=f"unreadable mail: {notes}", origin=origin)
        if dead_id:
            self.stats.dead_lettered += 1
        log.warning(
            "email uid=%d unreadable (%s): dead letter %s", mail.uid, notes[:200], dead_id or "-"
        )

    def _unreadable(self, mail: FetchedMail) -> InboundMessage:
        return InboundMessage(
            channel="email",
            external_id="sha256:" + hashlib.sha256(mail.raw).hexdigest(),
            sender=SenderIdentity(kind=IdentityKind.EMAIL, value="", account=self._s.address),
            kind=MessageKind.UNKNOWN,
            received_at=mail.internaldate or self._clock(),
            raw=mail.raw,
        )

    async def _with_stored_attachments(self, parsed: ParsedMail) -> InboundMessage:
        """Attachment bytes into the store; over-limit ones stay records without a file."""
        if not parsed.attachments:
            return parsed.message
        stored: list[Attachment] = []
        for part in parsed.attachments:
            if part.data is None:
                stored.append(part.attachment)
                continue
            saved = await self._attachments.save(
                part.data,
                filename=part.attachment.filename,
                content_type=part.attachment.content_type,
            )
            stored.append(saved)
        return dataclasses.replace(parsed.message, attachments=tuple(stored))


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
