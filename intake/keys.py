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
