"""Each signed push URL is good for one message: used nonces are remembered in Redis.

WeChat's `signature` covers only the token, the timestamp and the nonce, not the body (in
plaintext and compatible mode), so a captured URL could otherwise carry any body for as long
as the timestamp is fresh. The first verified push with a given timestamp and nonce stores a
digest of the message it carried (the decrypted XML when encrypted); a later push with the same
pair is accepted only when it carries the same message: that is WeChat's own retry, which the
core's MsgId dedupe then answers as before. Keys live until the timestamp has left the allowed
window, and are shared by every process through the service's Redis.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from intake.domain.errors import Forbidden, Unavailable
from intake.domain.messages import InboundMessage
from intake.redis.keys import Keys

from .verify import Clock

log = logging.getLogger(__name__)

MARGIN_S = 5  # beyond the window, for clocks of different processes


def pushed_content(params: Mapping[str, str], body: bytes, message: InboundMessage) -> bytes:
    """What a push carried: its body, or (encrypted) the decrypted XML that was acted on; the
    outer fields of a compatible-mode body are ignored then, and WeChat may re-encrypt."""
    encrypted = (params.get("encrypt_type") or "raw").lower() == "aes"
    if encrypted and isinstance(message.raw, str):
        return message.raw.encode("utf-8")
    return body


class NonceLedger:
    """Admits a (timestamp, nonce) pair with one message, and only that message again."""

    def __init__(
        self, redis: Redis, *, keys: Keys, max_age: float, clock: Clock = time.time
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._max_age = max_age
        self._clock = clock

    async def admit(self, *, app_id: str, timestamp: str, nonce: str, content: bytes) -> None:
        """Raise Forbidden when this timestamp and nonce already came with another message."""
        key = self._keys.wechat_nonce(app_id, timestamp, nonce)
        digest = hashlib.sha256(content).hexdigest()[:32]  # the client decodes replies
        ttl = max(1, int(int(timestamp) + self._max_age - self._clock()) + MARGIN_S)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(key, digest, nx=True, ex=ttl)
                pipe.get(key)
                _, stored = await pipe.execute()
        except RedisError as exc:
            raise Unavailable("wechat: cannot check the nonce now") from exc
        if stored != digest:
            log.warning("wechat request refused: nonce reused with another body app_id=%s", app_id)
            raise Forbidden("wechat: nonce already used")
