"""Every Redis key the service uses, named in one place under one prefix.

For Redis Cluster, give a prefix with a hash tag (e.g. `{intake}:`) so that the keys one
Lua script touches share a slot.
"""

from __future__ import annotations

from dataclasses import dataclass

PIPELINE_GROUP = "pipeline"


@dataclass(frozen=True)
class Keys:
    prefix: str = "intake:"

    @property
    def inbound(self) -> str:
        return f"{self.prefix}stream:inbound"

    @property
    def events(self) -> str:
        return f"{self.prefix}stream:events"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}stream:deadletter"

    @property
    def attempts(self) -> str:
        return f"{self.prefix}attempts"

    def receipt(self, idempotency_key: str) -> str:
        return f"{self.prefix}receipt:{idempotency_key}"

    def pending_ticket(self, number: str) -> str:
        return f"{self.prefix}pending:{number}"

    @property
    def pending_prefix(self) -> str:
        return f"{self.prefix}pending:"

    def sequence(self, day: str) -> str:
        return f"{self.prefix}seq:{day}"

    def lock(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    def heartbeats(self, kind: str) -> str:
        """A sorted set: each live worker of `kind` scored with the time its beat expires."""
        return f"{self.prefix}heartbeat:{kind}"

    def bucket(self, name: str) -> str:
        """A token bucket's hash (`intake.ratelimit.buckets`): its tokens and their time."""
        return f"{self.prefix}bucket:{name}"

    @property
    def limits(self) -> str:
        """The prefix of the `limits` library's moving windows (`intake.ratelimit.attempts`)."""
        return f"{self.prefix}limits"

    def failure_delay(self, name: str) -> str:
        """The prefix of one `FailureDelay`'s hashes, one per digest of who failed."""
        return f"{self.prefix}limits:delay:{name}:"

    # guided requests (intake/guided/): one draft per citizen of a channel, its deadline in a
    # sorted set per channel, the answer each message got, and a lock per citizen
    def guided_draft(self, channel: str, account: str, user: str) -> str:
        return f"{self.prefix}{channel}:dialog:draft:{account}:{user}"

    def guided_step(self, channel: str, account: str, message_id: str) -> str:
        return f"{self.prefix}{channel}:dialog:step:{account}:{message_id}"

    def guided_lock(self, channel: str, account: str, user: str) -> str:
        return f"{self.prefix}{channel}:dialog:lock:{account}:{user}"

    def guided_deadlines(self, channel: str) -> str:
        return f"{self.prefix}{channel}:dialog:deadlines"
