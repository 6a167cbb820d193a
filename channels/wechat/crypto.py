"""Safe/compatible mode envelopes: decrypt with the current or previous EncodingAESKey.

WeChat's FAQ asks servers to keep the previous key after a rotation, try it when the current
one fails, and encrypt the reply with whichever key worked, so that a key change in the admin
console never drops a citizen's message. The AES scheme itself is wechatpy's `WeChatCrypto`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from wechatpy.crypto import WeChatCrypto

from intake.domain.errors import Forbidden

log = logging.getLogger(__name__)


class EnvelopeCrypto:
    """Decrypts inbound envelopes and encrypts replies for one account."""

    def __init__(self, *, token: str, app_id: str, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one EncodingAESKey is needed")
        self._cryptos = [WeChatCrypto(token, key, app_id) for key in keys]

    def decrypt(
        self, encrypt: str, *, msg_signature: str, timestamp: str, nonce: str
    ) -> tuple[str, int]:
        """Return the plain XML and the index of the key that worked (0 = current).

        The caller has already checked `msg_signature` in constant time; wechatpy checks it
        again, which is harmless. Any failure of a key (bad padding, wrong app id, bytes that
        are not UTF-8) just moves on to the next key.
        """
        envelope = {"Encrypt": encrypt}
        for index, crypto in enumerate(self._cryptos):
            try:
                plain = crypto.decrypt_message(envelope, msg_signature, timestamp, nonce)
            except Exception as exc:  # every way a wrong key can fail
                log.debug("wechat decrypt with key #%s failed: %s", index, type(exc).__name__)
                continue
            if index:
                log.info("wechat message decrypted with the previous EncodingAESKey")
            return str(plain), index
        log.warning("wechat envelope could not be decrypted with any configured key")
        raise Forbidden("wechat: cannot decrypt the message with any configured EncodingAESKey")

    def encrypt(
        self, reply_xml: str, *, key_index: int, nonce: str, timestamp: int | None = None
    ) -> str:
        """The `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>` reply envelope."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        crypto = self._cryptos[key_index]
        return str(crypto.encrypt_message(reply_xml, nonce, stamp))
