"""Limits on attempts: submissions, status lookups, API keys and sign-ins, per who makes them.

Every such limit lives here, named by its setting (`INTAKE_LIMITS__…`), so that the channels and
later features ask one object and count in one place:

- `Limiter.hit(rule, who)` counts an attempt and refuses one over the limit;
- `Limiter.check(rule, who)` refuses without counting, and `count(rule, who)` counts without
  refusing, for limits on failures (count after the failure, check before the next try);
- `Limiter.admit_submission(...)` is the gate for a new request that is numbered at once;
- `Limiter.lookup_delay` (`FailureDelay`) makes each failure past a few free ones wait twice as
  long as the last;
- `Limiter.pause()` holds an HTTP refusal a moment, so a flood that waits for its answers
  (most do) cannot take the HTTP core from everyone else by being refused fast.

The strategy is the moving window of the `limits` library: "5/10minute" means at most 5 in
any 10 minutes, exactly. A fixed window lets twice the limit through across a boundary (5 at
9:59, 5 more at 10:00) and keeps counting refused attempts, so a flooder who keeps knocking
is never let back in and a citizen behind the same address neither; the moving window keeps
one timestamp per accepted attempt (a Redis list no longer than the limit, small at these
limits) and refused attempts add nothing. Who is counted (a phone, an address) enters the key
only as a keyed digest: no phone numbers in Redis key names.

Why these are not token buckets (`buckets.py`): a bucket paces a flow that will go out anyway
(take now or wait), while a limit here refuses and says until when. A bucket of 5 per 10
minutes lets a sixth attempt through two minutes after the fifth; "5/10minute;30/day" is
several windows that must all agree; a failure limit is checked before and counted after;
and a refusal's retry-after is when the window's oldest attempt leaves it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.exceptions import NoScriptError

from intake.config import LimitsSettings
from intake.domain.errors import TooManyRequests
from intake.privacy.pseudonyms import pseudonym
from intake.ratelimit.failure_delay import FailureDelay
from intake.redis.coalesce import Coalescer
from intake.redis.connection import RedisHandle

log = logging.getLogger(__name__)

SUBMISSIONS_MESSAGE = "提交过于频繁，本次诉求未受理，请稍后再试；紧急情况请拨打12345热线。"
LOOKUPS_MESSAGE = "查询过于频繁，请稍后再试。"
FAILURES_MESSAGE = "查询失败次数过多，请核对工单编号和查询码（或手机号码）后稍后再试。"
MAX_REMEMBERED = 10_000  # refusals a process remembers (floods from that many senders at once)


class Rule(StrEnum):
    """The configured limits, by their setting's name."""

    SUBMISSIONS_PER_IP = "submissions_per_ip"
    SUBMISSIONS_PER_SENDER = "submissions_per_sender"
    LOOKUPS_PER_IP = "lookups_per_ip"
    LOOKUP_FAILURES_PER_NUMBER = "lookup_failures_per_number"
    API_KEY_REQUESTS = "api_key_requests"
    SIGNIN_FAILURES_PER_ACCOUNT = "signin_failures_per_account"
    SIGNIN_FAILURES_PER_IP = "signin_failures_per_ip"


@dataclass(frozen=True, slots=True)
class Refusal:
    rule: str
    retry_after: int  # whole seconds, at least 1


class Limiter:
    """The service's limits on its Redis (one per process, built by `Runtime.open`)."""

    def __init__(self, redis: RedisHandle, settings: LimitsSettings, *, secret: str) -> None:
        storage = RedisStorage(
            _storage_uri(redis),
            implementation="redispy",
            key_prefix=redis.keys.limits,
            connection_pool=redis.client.connection_pool,  # the service's pool, not another
        )
        self._window = MovingWindowRateLimiter(storage)
        self._batch = _BatchedAcquire.of(storage)
        self._rules: dict[str, list[RateLimitItem]] = {
            rule.value: _parsed(settings, rule) for rule in Rule
        }
        self._secret = secret
        self._pause_s = settings.refusal_pause_s
        self._redis = redis
        self.lookup_delay = FailureDelay(
            redis,
            name="lookup",
            free=settings.lookup_free_failures if settings.enabled else None,
            first_s=settings.lookup_delay_s,
            max_s=settings.lookup_delay_max_s,
            memory_s=settings.lookup_failure_memory_s,
            digest=self.digest,
        )
        self._deciding: dict[str, asyncio.Future[Refusal | None]] = {}
        self._refused_until: dict[tuple[str, str], float] = {}  # (rule, who) -> time.time()
        # a flood's requests ask at the same moment: one round trip answers them all
        self._receipt_exists: Coalescer[str, bool] = Coalescer(self._receipts_exist)

    async def pause(self) -> None:
        """Wait before an HTTP answer refuses: the flooder's connection waits, not the others."""
        if self._pause_s > 0:
            await asyncio.sleep(self._pause_s)

    def digest(self, value: str) -> str:
        """Who is counted, as it appears in a key: a keyed hash, not the phone itself."""
        return pseudonym(value, secret=self._secret)

    def limits(self, rule: str) -> list[RateLimitItem]:
        return self._rules.get(rule, [])

    async def hit(self, rule: str, who: str) -> Refusal | None:
        """Count one attempt against every part of `rule` at once (one round trip's wait,
        however many parts); a part that is full refuses it, the others have counted it (a
        refused flood still counts).

        A refusal holds until the window's oldest entry expires, and nothing but time frees
        it; so this process remembers it until then and refuses a flood's further attempts
        without a Redis round trip (what Redis would answer, at no cost)."""
        (refusal,) = await self._hits([(rule, who)])
        return refusal

    async def _hits(self, asks: list[tuple[str, str]]) -> list[Refusal | None]:
        """`hit` for several (rule, who) at once: every part of every rule in one round trip."""
        keys = [self.digest(who) for _, who in asks]
        answers = [
            self._still_refused(rule, key) for (rule, _), key in zip(asks, keys, strict=True)
        ]
        parts = [
            (n, item, rule, key)
            for n, ((rule, _), key) in enumerate(zip(asks, keys, strict=True))
            if answers[n] is None
            for item in self.limits(rule)
        ]
        if self._batch is not None:
            admitted = await self._batch.acquire(
                self._redis, [(item, rule, key) for _, item, rule, key in parts]
            )
        else:
            admitted = await asyncio.gather(*(self._window.hit(i, r, k) for _, i, r, k in parts))
        for (n, item, rule, key), ok in zip(parts, admitted, strict=True):
            if not ok and answers[n] is None:
                refusal = answers[n] = await self._refusal(rule, item, key)
                self._remember(rule, key, refusal)  # logged once, not for each refused attempt
                log.info("limit %s reached by %s: refused for %d s", rule, key, refusal.retry_after)
        return answers

    def _still_refused(self, rule: str, key: str) -> Refusal | None:
        until = self._refused_until.get((rule, key))
        if until is None:
            return None
        left = until - time.time()
        if left <= 0:
            del self._refused_until[(rule, key)]
            return None
        return Refusal(rule, max(1, math.ceil(left)))

    def _remember(self, rule: str, key: str, refusal: Refusal) -> None:
        if len(self._refused_until) >= MAX_REMEMBERED:
            now = time.time()
            self._refused_until = {k: t for k, t in self._refused_until.items() if t > now}
            if len(self._refused_until) >= MAX_REMEMBERED:
                self._refused_until.clear()
        self._refused_until[(rule, key)] = time.time() + refusal.retry_after - 1

    async def check(self, rule: str, who: str) -> Refusal | None:
        """Whether one more attempt fits, counting nothing."""
        key = self.digest(who)
        for item in self.limits(rule):
            if not await self._window.test(item, rule, key):
                return await self._refusal(rule, item, key)
        return None

    async def count(self, rule: str, who: str) -> None:
        """Count one attempt (a failure) whatever the limit says."""
        key = self.digest(who)
        for item in self.limits(rule):
            await self._window.hit(item, rule, key)

    async def _refusal(self, rule: str, item: RateLimitItem, key: str) -> Refusal:
        stats = await self._window.get_window_stats(item, rule, key)
        return Refusal(rule, max(1, math.ceil(stats.reset_time - time.time())))

    async def admit_submission(
        self, *, ip: str | None, sender: str | None, idempotency_key: str | None
    ) -> None:
        """Raise `TooManyRequests` when a new request of this sender or address is over its
        limit, before anything is numbered or acknowledged.

        A retry of a request already accepted (its receipt exists under `idempotency_key`,
        `InboundMessage.idempotency_key`) passes uncounted and gets its receipt from the
        gateway; concurrent copies of one request in this process wait for the first one's
        decision and share it instead of each being counted.
        """
        if idempotency_key is None:
            refusal = await self._decide(ip, sender)
        elif await self._receipt_exists(self._redis.keys.receipt(idempotency_key)):
            return
        elif (first := self._deciding.get(idempotency_key)) is not None:
            await asyncio.wait({first})  # the first copy's decision, whatever became of it
            failed = first.cancelled()
            refusal = await self._decide(ip, sender) if failed else first.result()
        else:
            decision: asyncio.Future[Refusal | None] = asyncio.get_running_loop().create_future()
            self._deciding[idempotency_key] = decision
            try:
                refusal = await self._decide(ip, sender)
            except BaseException:
                decision.cancel()  # the copies waiting decide for themselves
                raise
            else:
                decision.set_result(refusal)
            finally:
                del self._deciding[idempotency_key]
        if refusal is not None:
            raise TooManyRequests(SUBMISSIONS_MESSAGE, retry_after=refusal.retry_after)

    async def _receipts_exist(self, keys: list[str]) -> list[bool]:
        async with self._redis.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            return [bool(found) for found in await pipe.execute()]

    async def _decide(self, ip: str | None, sender: str | None) -> Refusal | None:
        # A sender already refused is refused here, without counting its address: a flood of
        # one phone does not use up the address it shares with others. Otherwise both are
        # counted at once (a citizen's request waits one round trip, not one per limit).
        if sender:
            remembered = self._still_refused(Rule.SUBMISSIONS_PER_SENDER, self.digest(sender))
            if remembered is not None:
                return remembered
        asks = [(Rule.SUBMISSIONS_PER_SENDER.value, sender)] if sender else []
        asks += [(Rule.SUBMISSIONS_PER_IP.value, ip)] if ip else []
        return next((r for r in await self._hits(asks) if r is not None), None)


@dataclass(frozen=True, slots=True)
class _BatchedAcquire:
    """The library's own moving-window script, for several windows in one pipeline.

    `MovingWindowRateLimiter.hit` is one script call, so one round trip, per window; a web
    submission counts five windows (the sender's and its address's). The same script with
    the same keys and arguments, queued in one pipeline, answers them in one round trip.
    Built only when the storage exposes it (`of` returns None otherwise and `hit` is used).
    """

    script: Any
    prefixed_key: Callable[[str], str]

    @classmethod
    def of(cls, storage: RedisStorage) -> _BatchedAcquire | None:
        bridge = getattr(storage, "bridge", None)
        script = getattr(bridge, "lua_acquire_moving_window", None)
        prefixed = getattr(bridge, "prefixed_key", None)
        return cls(script, prefixed) if script is not None and prefixed is not None else None

    async def acquire(
        self, redis: RedisHandle, parts: list[tuple[RateLimitItem, str, str]]
    ) -> list[bool]:
        if not parts:
            return []
        now = time.time()
        try:
            return await self._evaluate(redis, parts, now)
        except NoScriptError:  # a Redis that restarted without it: load it, once
            await redis.client.script_load(self.script.script)
            return await self._evaluate(redis, parts, now)

    async def _evaluate(
        self, redis: RedisHandle, parts: list[tuple[RateLimitItem, str, str]], now: float
    ) -> list[bool]:
        # EVALSHA queued directly: a Script object in a pipeline asks SCRIPT EXISTS first,
        # one more round trip on every call
        async with redis.client.pipeline(transaction=False) as pipe:
            for item, rule, key in parts:
                pipe.evalsha(
                    self.script.sha,
                    1,
                    self.prefixed_key(item.key_for(rule, key)),
                    now,
                    item.amount,
                    item.get_expiry(),
                    1,
                )
            return [bool(ok) for ok in await pipe.execute()]


def _parsed(settings: LimitsSettings, rule: Rule) -> list[RateLimitItem]:
    value = str(getattr(settings, rule.value))
    return parse_many(value) if settings.enabled and value else []


def _storage_uri(redis: RedisHandle) -> str:
    """The `limits` storage URI of the service's Redis (its pool is handed over as well, so
    this only tells the library which kind of server it talks to)."""
    url = redis.url
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url
