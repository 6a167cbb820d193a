"""Many Redis writes as one atomic command: a batch settles in one script call.

After a batch of a hundred messages commits, the worker acknowledges them, stores their
outcomes, queues replies and publishes their events: five or six commands per message. Sent
as a redis-py pipeline, each command is packed and parsed on its own, and that bookkeeping
cost more client CPU than the writes cost Redis. Here the commands travel as the arguments
of one script that runs them in order; like MULTI/EXEC it is atomic, and it answers nothing.

The commands go as one JSON argument (Redis's Lua decodes it in C): packing thousands of
small arguments was itself a tenth of a message's cost. Only write commands whose replies
nobody reads belong here. Keys are passed inside that argument, which a standalone Redis
(server or embedded) accepts; a Redis Cluster would not.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

_RUN_ALL = """
local commands = cjson.decode(ARGV[1])
for _, command in ipairs(commands) do redis.call(unpack(command)) end
return #commands
"""

Arg = str | bytes | int | float


class CommandBatch:
    """Collects write commands (the subset of redis-py's pipeline API the worker uses)."""

    def __init__(self) -> None:
        self._commands: list[list[str]] = []

    @property
    def commands(self) -> int:
        return len(self._commands)

    def _add(self, *command: Arg) -> None:
        self._commands.append(
            [a.decode() if isinstance(a, bytes) else str(a) for a in command]  # text for JSON
        )

    def encoded(self) -> bytes:
        return orjson.dumps(self._commands)

    def xack(self, stream: str, group: str, *ids: str) -> None:
        if ids:
            self._add("XACK", stream, group, *ids)

    def xdel(self, stream: str, *ids: str) -> None:
        if ids:
            self._add("XDEL", stream, *ids)

    def hdel(self, key: str, *fields: str) -> None:
        if fields:
            self._add("HDEL", key, *fields)

    def expire(self, key: str, seconds: int) -> None:
        self._add("EXPIRE", key, seconds)

    def set(self, key: str, value: Arg, ex: int | None = None) -> None:
        if ex is None:
            self._add("SET", key, value)
        else:
            self._add("SET", key, value, "EX", ex)

    def xadd(
        self,
        stream: str,
        fields: dict[str, Any],
        maxlen: int | None = None,
        approximate: bool = True,
    ) -> None:
        head: list[Arg] = ["XADD", stream]
        if maxlen is not None:
            head += ["MAXLEN", "~" if approximate else "=", maxlen]
        flat: list[Arg] = []
        for name, value in fields.items():
            flat += (name, value)
        self._add(*head, "*", *flat)


class BatchRunner:
    """Runs a `CommandBatch` on one Redis connection pool (the script is loaded once)."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self._script = redis.register_script(_RUN_ALL)

    async def run(self, batch: CommandBatch) -> None:
        if batch.commands:
            await self._script(keys=[], args=[batch.encoded()])
