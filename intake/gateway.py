"""The core's front door: make an inbound message durable once, and say so.

One Lua script does, atomically and in one round trip: delivery dedupe on the idempotency
key, the ticket number (`INCR` on the day's sequence) when the channel opens a ticket, the
`XADD` onto the intake stream, and a pending record so that a status lookup finds the ticket
before the pipeline has written it. Retries and concurrent duplicates get the first receipt.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime

import orjson
import redis.asyncio as aioredis

from channels.base import Receipt
from intake.clock import Clock, intake_day, utcnow
from intake.keys import Keys
from intake.messages import InboundMessage

log = logging.getLogger(__name__)

QUERY_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone
QUERY_CODE_LENGTH = 8
SEQUENCE_DIGITS = 5

_ACCEPT = """
local existing = redis.call('HGETALL', KEYS[1])
if #existing > 0 then return existing end
local number = ''
local code = ''
if ARGV[2] == '1' then
  local seq = redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], 259200)
  number = ARGV[3] .. string.format('%0' .. ARGV[4] .. 'd', seq)
  code = ARGV[5]
end
local entry = redis.call('XADD', KEYS[2], '*', 'msg', ARGV[1], 'number', number, 'code', code)
redis.call('HSET', KEYS[1], 'entry', entry, 'number', number, 'code', code,
           'fingerprint', ARGV[6], 'contact', ARGV[8], 'at', ARGV[9])
redis.call('EXPIRE', KEYS[1], ARGV[7])
if number ~= '' then
  local pending = ARGV[10] .. number
  redis.call('HSET', pending, 'code', code, 'contact', ARGV[8], 'at', ARGV[9],
             'channel', ARGV[11])
  redis.call('EXPIRE', pending, 86400)
end
return {'entry', entry, 'number', number, 'code', code, 'fingerprint', ARGV[6], 'new', '1'}
"""

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
    """Implements `channels.base.IntakeGateway` on Redis."""

    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        keys: Keys,
        receipt_ttl_days: int = 30,
        clock: Clock = utcnow,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.redis, self.keys = redis, keys
        self._ttl = receipt_ttl_days * 86400
        self._clock = clock
        self._accept = redis.register_script(_ACCEPT)
        self._raise_floor = redis.register_script(_RAISE_FLOOR)
        self._reserve = redis.register_script(_RESERVE)
        self._block: deque[int] = deque()
        self._block_day = ""

    async def submit(self, message: InboundMessage, *, open_ticket: bool = False) -> Receipt:
        now = self._clock()
        reply = await self._accept(
            keys=[
                self._keys.receipt(message.idempotency_key),
                self._keys.inbound,
                self._keys.sequence(intake_day(now)),
            ],
            args=[
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
            ],
        )
        fields = dict(zip(reply[::2], reply[1::2], strict=True))
        receipt = AcceptedReceipt(
            entry_id=fields["entry"],
            duplicate="new" not in fields,
            number=fields.get("number") or None,
            query_code=fields.get("code") or None,
            fingerprint=fields.get("fingerprint", ""),
        )
        log.info(
            "accepted channel=%s external_id=%s ticket=%s duplicate=%s",
            message.channel,
            message.external_id,
            receipt.number,
            receipt.duplicate,
        )
        return receipt

    async def pending_ticket(self, number: str) -> dict[str, str] | None:
        """A ticket acknowledged to the citizen that the pipeline has not written yet."""
        data = await self._redis.hgetall(self._keys.pending_ticket(number))
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
