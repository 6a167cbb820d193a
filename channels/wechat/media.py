"""Voice and image media citizens send, downloaded into attachment storage in the background.

WeChat sends only a media id, valid for three days, so without a copy a handler could not
listen to a voice message later. Downloading inside the 5-second window would put the passive
reply at risk, so the route only queues the media id (one round trip); a background task of
the connector downloads it with the account's API client, stores it by content and fills in
the attachment rows the pipeline wrote for that media id. Those rows may not exist yet (the
pipeline is behind, or the message waits in a guided-conversation draft): the job is retried
with backoff, and the file itself is downloaded once. A claimed job is leased, not removed,
so a worker that dies mid-job leaves it to another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from redis.asyncio import Redis
from sqlalchemy import select, update

from intake.cancellation import stop_if_cancelled
from intake.domain.messages import InboundMessage, MessageKind
from intake.domain.models import AttachmentRecord
from intake.ingest.attachments import AttachmentStore
from intake.redis.keys import Keys
from intake.resilience import OutageGuard, is_outage
from intake.storage.database import Database

from .api import WeChatApiClient, WeChatApiError, WeChatUnavailable

log = logging.getLogger(__name__)

KINDS = frozenset({MessageKind.VOICE, MessageKind.IMAGE})
PERMANENT = frozenset({40007, -2, -3})  # invalid/expired media id, not media, too large
_SEP = "\t"

_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[2], member) end
return due
"""


class MediaFetcher:
    def __init__(
        self,
        *,
        redis: Redis,
        keys: Keys,
        clients: Mapping[str, WeChatApiClient],
        store: AttachmentStore,
        db: Database,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
        lease_s: float = 120.0,
        max_attempts: int = 10,
    ) -> None:
        self._redis, self._clients, self._store, self._db = redis, dict(clients), store, db
        self._keys, self._queue = keys, keys.wechat_media_queue
        self._max_bytes, self._clock = max_bytes, clock
        self._lease, self._max_attempts = lease_s, max_attempts
        self._claim = redis.register_script(_CLAIM)

    async def enqueue(self, message: InboundMessage) -> None:
        """Queue the message's media for download; retries of one message queue it once."""
        if message.kind not in KINDS:
            return
        account = message.sender.account
        for item in message.attachments:
            if not item.media_id or account not in self._clients:
                continue
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hsetnx(self._job(account, item.media_id), "content_type", item.content_type)
                pipe.zadd(self._queue, {_member(account, item.media_id): self._clock()}, nx=True)
                await pipe.execute()

    async def run_once(self, *, limit: int = 20) -> int:
        """Work through the due jobs; returns how many were finished (stored and attached)."""
        now = self._clock()
        claimed = await self._claim(keys=[self._queue], args=[now, now + self._lease, limit])
        done = 0
        for member in claimed:
            account, media_id = _split(member)
            done += await self._process(account, media_id)
        return done

    async def run(self, *, interval_s: float = 1.0) -> None:
        outages = OutageGuard("wechat media fetch", logger=log)
        while True:
            stop_if_cancelled()
            try:
                await self.run_once()
                outages.ok()
            except Exception as exc:  # Redis or the database away: logged once, waited out
                if is_outage(exc):
                    await outages.pause(exc)
                    continue
                log.exception("wechat media fetch failed; retrying")
            await asyncio.sleep(interval_s)

    async def _process(self, account: str, media_id: str) -> int:
        job_key = self._job(account, media_id)
        job = {_s(k): _s(v) for k, v in (await self._redis.hgetall(job_key)).items()}
        try:
            if not job.get("storage_key"):
                job.update(await self._download(account, media_id, job.get("content_type", "")))
                await self._redis.hset(job_key, mapping=job)
            attached = await self._attach(media_id, job)
        except WeChatApiError as exc:
            if exc.errcode not in PERMANENT:
                return await self._later(account, media_id, job_key, f"errcode {exc.errcode}")
            log.warning("wechat media %s not downloadable: %s", media_id, exc)
            await self._forget(account, media_id)  # the attachment keeps its media id
            return 0
        except WeChatUnavailable as exc:
            return await self._later(account, media_id, job_key, str(exc))
        if not attached:
            return await self._later(account, media_id, job_key, "no attachment row yet")
        await self._forget(account, media_id)
        return 1

    async def _download(self, account: str, media_id: str, declared: str) -> dict[str, str]:
        data, content_type = await self._clients[account].get_media(
            media_id, max_bytes=self._max_bytes
        )
        stored = await self._store.save(
            data, filename=f"wechat-{media_id}", content_type=content_type or declared
        )
        log.info("wechat media %s stored (%d bytes)", media_id, stored.size)
        return {
            "storage_key": stored.storage_key or "",
            "sha256": stored.sha256 or "",
            "size": str(stored.size),
        }

    async def _attach(self, media_id: str, job: dict[str, str]) -> bool:
        """Point the attachment rows of this media id at the stored file; False: none yet."""
        rows = AttachmentRecord
        async with self._db.write() as session, session.begin():
            await session.execute(
                update(rows)
                .where(rows.media_id == media_id, rows.storage_key.is_(None))
                .values(storage_key=job["storage_key"], sha256=job["sha256"], size=int(job["size"]))
            )
            found = await session.scalar(select(rows.id).where(rows.media_id == media_id).limit(1))
        return found is not None

    async def _later(self, account: str, media_id: str, job_key: str, why: str) -> int:
        attempts = int(await self._redis.hincrby(job_key, "attempts", 1))
        if attempts >= self._max_attempts:
            log.warning("wechat media %s given up after %d attempts: %s", media_id, attempts, why)
            await self._forget(account, media_id)
            return 0
        delay = min(5.0 * 2 ** (attempts - 1), 300.0)
        await self._redis.zadd(self._queue, {_member(account, media_id): self._clock() + delay})
        return 0

    async def _forget(self, account: str, media_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._queue, _member(account, media_id))
            pipe.delete(self._job(account, media_id))
            await pipe.execute()

    def _job(self, account: str, media_id: str) -> str:
        return self._keys.wechat_media_job(account, media_id)


def _member(account: str, media_id: str) -> str:
    return f"{account}{_SEP}{media_id}"


def _split(member: bytes | str) -> tuple[str, str]:
    account, _, media_id = _s(member).partition(_SEP)
    return account, media_id


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
