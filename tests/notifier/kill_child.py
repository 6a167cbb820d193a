"""A notifier process for the kill test: delivers to a Redis list, and SIGKILLs itself.

argv[1] is a JSON object: settings overrides, the clock's ISO time, the job key at which to
die and how: "during" inside the send, after the message reached the sink; "after" right after
the send returned; "record" when the outcomes of that job's batch are about to be written to
the database (every send of the batch done and marked in Redis), through SQLAlchemy's own
statement hook.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import datetime
from typing import Any

from sqlalchemy import event

from channels.base import OutboundMessage, SendResult
from intake.config import load_settings
from intake.runtime import Runtime
from notifier.service import Notifier
from service.wiring import notifier_parts


class SinkSender:
    def __init__(self, channel: str, runtime: Runtime, kill_key: str, mode: str) -> None:
        self.channel = channel
        self.runtime = runtime
        self.kill_key = kill_key
        self.mode = mode
        self.sent: set[str] = set()

    async def send(self, message: OutboundMessage) -> SendResult:
        sink = f"{self.runtime.redis.keys.prefix}sink"
        await self.runtime.redis.client.rpush(sink, message.job_key)
        self.sent.add(message.job_key)
        if message.job_key == self.kill_key:
            if self.mode == "during":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.mode == "after":
                asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGKILL)
        return SendResult(provider_id=f"sink-{message.job_key}")

    def before_record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        inserting = statement.lstrip().upper().startswith("INSERT INTO DELIVERIES")
        if inserting and self.mode == "record" and self.kill_key in self.sent:
            os.kill(os.getpid(), signal.SIGKILL)


async def main(config: dict[str, Any]) -> None:
    at = datetime.fromisoformat(config["now"])
    runtime = await Runtime.open(
        load_settings(**config["settings"]), migrate=False, clock=lambda: at
    )
    sender = SinkSender("sms", runtime, config["kill_key"], config["mode"])
    event.listen(runtime.db.engine.sync_engine, "before_cursor_execute", sender.before_record)
    notifier = Notifier(notifier_parts(runtime), {"sms": sender})
    await notifier.run_due()
    print("finished without being killed", flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
