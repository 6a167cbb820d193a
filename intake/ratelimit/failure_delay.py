"""A growing wait after repeated failures of one key (a status lookup's address and number).

Not a rate: the first few failures are free and each further one doubles the wait, so a
guesser slows to nothing while a citizen who mistypes twice never notices. Its hashes live
beside the moving windows (`Keys.failure_delay`) and, like them, name who failed only by a
keyed digest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from intake.redis.connection import RedisHandle

# KEYS[1]: the failures hash; ARGV: now (ms), free failures, first wait (ms), longest wait
# (ms), memory (s). Returns the wait (ms) this failure imposes: 0 before the free-th failure,
# then the first wait, doubling with each further failure.
_FAILED = """
local failures = redis.call('HINCRBY', KEYS[1], 'n', 1)
local wait = 0
local beyond = failures - tonumber(ARGV[2]) + 1
if beyond > 0 then
  wait = math.floor(math.min(tonumber(ARGV[3]) * 2 ^ math.min(beyond - 1, 62), tonumber(ARGV[4])))
  redis.call('HSET', KEYS[1], 'until', tonumber(ARGV[1]) + wait)
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
return wait
"""


class FailureDelay:
    """A growing wait after repeated failures of one key (an address and a ticket number,
    later an address and a staff account): `free` attempts may fail one after the other, then
    each attempt waits, `first_s` after the free-th failure, twice as long after each further
    one, up to `max_s`. A success clears
    the key. Attempts refused during a wait are not failures (they were not tried)."""

    def __init__(
        self,
        redis: RedisHandle,
        *,
        name: str,
        free: int | None,
        first_s: float,
        max_s: int,
        memory_s: int,
        digest: Callable[[str], str],
    ) -> None:
        self._client = redis.client
        self._prefix = redis.keys.failure_delay(name)
        self._free, self._first_ms, self._max_ms = free, int(first_s * 1000), max_s * 1000
        self._memory_s = memory_s
        self._digest = digest
        self._failed = redis.client.register_script(_FAILED)

    def _key(self, *parts: str) -> str:
        return self._prefix + self._digest("\x1f".join(parts))

    async def check(self, *parts: str) -> int | None:
        """Seconds still to wait before this key may try again, or None."""
        if self._free is None:
            return None
        until = await self._client.hget(self._key(*parts), "until")
        left_ms = float(until) - time.time() * 1000 if until else 0
        return math.ceil(left_ms / 1000) if left_ms > 0 else None

    async def failed(self, *parts: str) -> int:
        """Record a failure; the seconds the next attempt must wait (0: none)."""
        if self._free is None:
            return 0
        wait_ms = await self._failed(
            keys=[self._key(*parts)],
            args=[
                int(time.time() * 1000),
                self._free,
                self._first_ms,
                self._max_ms,
                self._memory_s,
            ],
        )
        return math.ceil(int(wait_ms) / 1000)

    async def succeeded(self, *parts: str) -> None:
        if self._free is not None:
            await self._client.delete(self._key(*parts))
