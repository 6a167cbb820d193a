"""The job queue: saq's Redis queue, under our key prefix and on our clock.

saq does the scheduling, retries, sweeping of jobs whose worker died, and uniqueness of job
keys (an enqueue of a key that is still queued, scheduled or running is a no-op). Two things
are adapted here, by subclassing rather than forking: keys live under the runtime's prefix (so
tests and deployments sharing one Redis stay apart), and "now" for scheduled and retried jobs
comes from the injected clock, so that tests move time instead of waiting for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from saq.job import Job
from saq.queue.redis import PubSubMultiplexer, RedisQueue

from intake.clock import Clock

_SCHEDULE = """
if ARGV[1] == '0' or redis.call('EXISTS', KEYS[1]) == 0 then
    if ARGV[1] ~= '0' then redis.call('PSETEX', KEYS[1], ARGV[1], 1) end
    local jobs = redis.call('ZRANGEBYSCORE', KEYS[2], 1, ARGV[2])
    for _, v in ipairs(jobs) do
        redis.call('ZADD', KEYS[2], 0, v)
        redis.call('RPUSH', KEYS[3], v)
    end
    return jobs
end
"""


class ClockedQueue(RedisQueue):
    """A saq RedisQueue whose keys start with `prefix` and whose "now" is `clock`."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str, clock: Clock, **kw: Any) -> None:
        self._prefix = prefix
        self.clock = clock
        super().__init__(redis, name="notifier", **kw)
        self._pubsub = PubSubMultiplexer(redis.pubsub(), prefix=self.job_id(""))
        self._clocked_schedule: Any = None

    def namespace(self, key: str) -> str:
        return f"{self._prefix}saq:{self.name}:{key}"

    def job_id(self, job_key: str) -> str:
        return f"{self._prefix}saq:job:{self.name}:{job_key}"

    def job_key_from_id(self, job_id: str) -> str:
        return job_id[len(self.job_id("")) :]

    async def enqueue(self, job_or_func: str | Job, **kwargs: Any) -> Job | None:
        """Job keys get the prefix too: saq keeps abort markers under `saq:abort:<key>`."""
        if isinstance(job_or_func, str) and "key" in kwargs:
            kwargs["key"] = self._prefix + kwargs["key"]
        return await super().enqueue(job_or_func, **kwargs)

    def epoch(self, at: datetime | None = None) -> float:
        return (at or self.clock()).timestamp()

    async def schedule(self, lock: int = 1) -> list[str]:
        """Move due scheduled jobs to the queue; `lock` (seconds, 0: none) spaces the rounds."""
        if self._clocked_schedule is None:
            self._clocked_schedule = self.redis.register_script(_SCHEDULE)
        found = await self._clocked_schedule(
            keys=[self._schedule, self._incomplete, self._queued],
            args=[int(lock * 1000), self.epoch()],
        )
        return [j.decode() if isinstance(j, bytes) else j for j in found or []]

    async def _retry(self, job: Job, error: str | None) -> None:
        delay = job.next_retry_delay()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lrem(self._active, 1, job.id)
            pipe.lrem(self._queued, 1, job.id)
            if delay:
                pipe.zadd(self._incomplete, {job.id: self.epoch() + delay})
            else:
                pipe.zadd(self._incomplete, {job.id: job.scheduled})
                pipe.rpush(self._queued, job.id)
            await pipe.set(job.id, self.serialize(job)).execute()
        await self.notify(job)

    async def due_in(self) -> float | None:
        """Seconds until the next scheduled job (None when nothing waits): for drains."""
        first = await self.redis.zrangebyscore(self._incomplete, 1, "+inf", 0, 1, withscores=True)
        return first[0][1] - self.epoch() if first else None


def open_queue(url: str, *, prefix: str, clock: Clock) -> ClockedQueue:
    """saq wants a bytes client: a second connection pool to the runtime's Redis URL."""
    return ClockedQueue(aioredis.from_url(url), prefix=prefix, clock=clock)
