"""The core's front door: make an inbound message durable once, and say so.

One Lua script does, atomically and in one round trip: delivery dedupe on the idempotency
key, the ticket number (`INCR` on the day's sequence) when the channel opens a ticket, the
`XADD` onto the intake stream, and a pending record so that a status lookup finds the ticket
before the pipeline has written it. Retries and concurrent duplicates get the first receipt.
Submissions made in the same turn of the event loop go in one call of that script (a busy
edge spent more CPU on one Redis round trip per request than on the rest of accepting it).
Guard keys travel inside an argument, which a standalone Redis (server or embedded) accepts;
a Redis Cluster would not (as for `intake.redis.batch`).
While Redis is unreachable a submission raises `Unavailable` (the edges answer 503 with
Retry-After and acknowledge nothing), never redis-py's own errors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from intake import metrics
from intake.domain.clock import Clock, intake_day, utcnow
from intake.domain.emergency_advice import EmergencyAdvice, EmergencyCheck
from intake.domain.errors import Unavailable
from intake.domain.messages import InboundMessage
from intake.interfaces import Receipt
from intake.redis.coalesce import Coalescer
from intake.redis.keys import Keys

log = logging.getLogger(__name__)

QUERY_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone
QUERY_CODE_LENGTH = 8
SEQUENCE_DIGITS = 5

# One call accepts every message submitted in the same turn of the event loop. KEYS: per
# message its receipt, the intake stream and the day's sequence; ARGV: per message
# ACCEPT_ARGS values. Messages are taken in order, so a retry in the same call as its first
# delivery finds the receipt just written. A message with guard keys (a JSON array, the
# last value) is held, not accepted, while any of them exists.
_ACCEPT = """
local replies = {}
local per = tonumber(ARGV[1])
for i = 0, (#KEYS / 3) - 1 do
  local receipt, stream, sequence = KEYS[i * 3 + 1], KEYS[i * 3 + 2], KEYS[i * 3 + 3]
  local a = {unpack(ARGV, 2 + i * per, 1 + (i + 1) * per)}
  local existing = redis.call('HGETALL', receipt)
  local held = false
  if #existing == 0 and a[12] ~= '[]' then
    for _, guard in ipairs(cjson.decode(a[12])) do
      if redis.call('EXISTS', guard) == 1 then held = true end
    end
  end
  if #existing > 0 then
    replies[i + 1] = existing
  elseif held then
    replies[i + 1] = {'held', '1'}
  else
    local number = ''
    local code = ''
    if a[2] == '1' then
      local seq = redis.call('INCR', sequence)
      redis.call('EXPIRE', sequence, 259200)
      number = a[3] .. string.format('%0' .. a[4] .. 'd', seq)
      code = a[5]
    end
    local entry = redis.call('XADD', stream, '*', 'msg', a[1], 'number', number, 'code', code)
    redis.call('HSET', receipt, 'entry', entry, 'number', number, 'code', code,
               'fingerprint', a[6], 'contact', a[8], 'at', a[9])
    redis.call('EXPIRE', receipt, a[7])
    if number ~= '' then
      local pending = a[10] .. number
      redis.call('HSET', pending, 'code', code, 'contact', a[8], 'at', a[9], 'channel', a[11])
      redis.call('EXPIRE', pending, 86400)
    end
    replies[i + 1] = {'entry', entry, 'number', number, 'code', code,
                      'fingerprint', a[6], 'new', '1'}
  end
end
return replies
"""
ACCEPT_ARGS = 12

_RAISE_FLOOR = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', 259200)
  return tonumber(ARGV[1])
end
return current
"""


NUMBER_BLOCK = 16  # ticket numbers a pipeline process reserves at a time

_RESERVE = """
local last = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return last
"""


@dataclass(frozen=True, slots=True)
class AcceptedReceipt(Receipt):
    fingerprint: str = ""


_entropy = bytearray()
_entropy_pid = 0


def _random_bytes(n: int) -> bytes:
    """From the system CSPRNG, read 4 KiB at a time (one syscall per 512 query codes); a
    forked process never reuses its parent's bytes."""
    global _entropy, _entropy_pid
    if len(_entropy) < n or _entropy_pid != os.getpid():
        _entropy, _entropy_pid = bytearray(secrets.token_bytes(4096)), os.getpid()
    chunk = bytes(_entropy[:n])
    del _entropy[:n]
    return chunk


def new_query_code() -> str:
    """Eight symbols from one 64-bit draw of the system CSPRNG.

    31**8 is about 2**39.6, so reducing a 64-bit number leaves a bias below one in ten million.
    """
    number = int.from_bytes(_random_bytes(8), "big")
    symbols = []
    for _ in range(QUERY_CODE_LENGTH):
        number, index = divmod(number, len(QUERY_CODE_ALPHABET))
        symbols.append(QUERY_CODE_ALPHABET[index])
    return "".join(symbols)


def fingerprint(message: InboundMessage) -> str:
    """What a retry must repeat: the same idempotency key with other content is a conflict."""
    body = orjson.dumps(
        {"text": message.text, "fields": message.fields, "sender": message.sender.value},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(body).hexdigest()[:32]


class Gateway:
    """Implements `intake.interfaces.IntakeGateway` on Redis."""

    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        keys: Keys,
        receipt_ttl_days: int = 30,
        clock: Clock = utcnow,
        alarm: EmergencyCheck | None = None,
    ) -> None:
        self._redis = redis
        self.alarm = alarm  # the emergency check every accepted message goes through
        self._keys = keys
        self.redis, self.keys = redis, keys
        self._ttl = receipt_ttl_days * 86400
        self._clock = clock
        self._accept = redis.register_script(_ACCEPT)
        self._accepting: Coalescer[tuple[list[str], list[Any]], list[bytes | str]] = Coalescer(
            self._accept_all
        )
        self._raise_floor = redis.register_script(_RAISE_FLOOR)
        self._reserve = redis.register_script(_RESERVE)
        self._block: deque[int] = deque()
        self._block_day = ""

    async def submit(self, message: InboundMessage, *, open_ticket: bool = False) -> Receipt:
        """Durable once this returns; concurrent submissions share one Redis call."""
        receipt = await self._submit(message, open_ticket=open_ticket, unless=())
        assert receipt is not None, "only guarded submissions are held"
        return receipt

    async def submit_unless(self, message: InboundMessage, guards: list[str]) -> Receipt | None:
        """As `submit`, unless one of the `guards` keys exists (checked in the same atomic
        step): then nothing is written and None is returned. A message accepted before is
        its receipt whatever the guards say. One round trip where a check and a submit
        would take two (a conversation in progress takes the message instead)."""
        return await self._submit(message, open_ticket=False, unless=guards)

    async def _submit(
        self, message: InboundMessage, *, open_ticket: bool, unless: list[str] | tuple[()]
    ) -> Receipt | None:
        now = self._clock()
        emergency = self.emergency(message)  # before it is durable: nothing to undo
        reply = await self._accepting(
            (
                [
                    self._keys.receipt(message.idempotency_key),
                    self._keys.inbound,
                    self._keys.sequence(intake_day(now)),
                ],
                [
                    orjson.dumps(message.to_dict()),
                    "1" if open_ticket else "0",
                    intake_day(now),
                    SEQUENCE_DIGITS,
                    new_query_code(),
                    fingerprint(message),
                    self._ttl,
                    str(message.fields.get("contact_phone") or ""),
                    now.isoformat(),
                    self._keys.pending_prefix,
                    message.channel,
                    orjson.dumps(list(unless)),
                ],
            )
        )
        fields = dict(zip(reply[::2], reply[1::2], strict=True))
        if "held" in fields:
            log.info(
                "held channel=%s external_id=%s: a guard key exists",
                message.channel,
                message.external_id,
            )
            return None
        receipt = AcceptedReceipt(
            entry_id=fields["entry"],
            duplicate="new" not in fields,
            number=fields.get("number") or None,
            query_code=fields.get("code") or None,
            emergency=emergency,
            fingerprint=fields.get("fingerprint", ""),
        )
        if not receipt.duplicate:
            metrics.message_accepted(message.channel)
        log.info(
            "accepted channel=%s external_id=%s ticket=%s duplicate=%s",
            message.channel,
            message.external_id,
            receipt.number,
            receipt.duplicate,
        )
        return receipt

    def emergency(self, message: InboundMessage) -> EmergencyAdvice | None:
        """The advice for an emergency happening now, which the first answer carries on
        every channel; pure and cheap (`intake.triage.alarm`), so a retry gets it again."""
        if self.alarm is None or not message.text:
            return None
        advice = self.alarm.check(message.text)
        if advice is not None:
            log.info(
                "emergency channel=%s external_id=%s rule=%s: advised to call %s",
                message.channel,
                message.external_id,
                advice.rule_id,
                advice.number,
            )
        return advice

    async def _accept_all(
        self, items: list[tuple[list[str], list[Any]]]
    ) -> list[list[bytes | str]]:
        keys: list[str] = []
        args: list[Any] = [ACCEPT_ARGS]
        for item_keys, item_args in items:
            keys += item_keys
            args += item_args
        return list(await self._accept(keys=keys, args=args))

    async def pending_ticket(self, number: str) -> dict[str, str] | None:
        """A ticket acknowledged to the citizen that the pipeline has not written yet."""
        try:
            data = await self._redis.hgetall(self._keys.pending_ticket(number))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise Unavailable("redis is unavailable; try again shortly") from exc
        return data or None

    async def allocate_number(self, at: datetime | None = None) -> tuple[str, str]:
        """A fresh ticket number and query code, for tickets the pipeline opens itself.

        Numbers come from the day's sequence a block at a time (one round trip per
        `NUMBER_BLOCK` tickets instead of one per ticket). What a process holds unused when
        the day changes or it stops is skipped: the sequence has gaps, never duplicates.
        """
        day = intake_day(at or self._clock())
        if self._block_day != day or not self._block:
            last = int(
                await self._reserve(keys=[self._keys.sequence(day)], args=[NUMBER_BLOCK, 259200])
            )
            if self._block_day != day:
                self._block.clear()
            self._block_day = day
            self._block.extend(range(last - NUMBER_BLOCK + 1, last + 1))
        seq = self._block.popleft()
        return f"{day}{seq:0{SEQUENCE_DIGITS}d}", new_query_code()

    async def raise_sequence_floor(self, *, day: str, floor: int) -> int:
        """Never hand out a number the database already has (a Redis without persistence)."""
        return int(await self._raise_floor(keys=[self._keys.sequence(day)], args=[floor]))
