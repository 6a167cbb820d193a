"""Menu photo events (`pic_sysphoto`, `pic_photo_or_album`, `pic_weixin`) linked to their photos.

WeChat pushes the menu event first (how many photos, their MD5 sums) and then each photo as an
ordinary image message. The event is remembered for its sender a short while, and each of the
photos that follow carries the event's id in `fields["menu_event"]`, so a handler can tell
which photos were sent together through the menu. A Redis failure only loses the link, never
the photo.
"""

from __future__ import annotations

import dataclasses
import logging

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from intake.domain.messages import InboundMessage, MessageKind
from intake.redis.keys import Keys

log = logging.getLogger(__name__)

PIC_EVENTS = frozenset({"pic_sysphoto", "pic_photo_or_album", "pic_weixin"})
DEFAULT_TTL_S = 300  # choosing and uploading several photos takes a while on a phone


class PictureLinks:
    def __init__(self, redis: Redis, *, keys: Keys, ttl_s: int = DEFAULT_TTL_S) -> None:
        self._redis, self._keys, self._ttl = redis, keys, ttl_s

    async def link(self, message: InboundMessage) -> InboundMessage:
        """Remember a photo event, or mark an image that follows one; else `message` as is."""
        try:
            if message.fields.get("event") in PIC_EVENTS:
                await self._remember(message)
            elif message.kind is MessageKind.IMAGE:
                return await self._mark(message)
        except RedisError:
            log.warning("wechat menu photos not linked external_id=%s", message.external_id)
        return message

    def _keys_of(self, message: InboundMessage) -> tuple[str, str]:
        account, openid = message.sender.account, message.sender.value
        return (
            self._keys.wechat_pictures(account, openid),
            self._keys.wechat_pictures_linked(account, openid),
        )

    async def _remember(self, message: InboundMessage) -> None:
        count = int(message.fields.get("pic_count") or 0)
        if count <= 0:
            return
        key, linked = self._keys_of(message)
        value = orjson.dumps({"event": message.external_id, "count": count})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(key, value, ex=self._ttl)
            pipe.delete(linked)
            await pipe.execute()

    async def _mark(self, message: InboundMessage) -> InboundMessage:
        key, linked = self._keys_of(message)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(key)
            pipe.sadd(linked, message.external_id)
            pipe.scard(linked)
            pipe.expire(linked, self._ttl)
            stored, _, taken, _ = await pipe.execute()
        if stored is None:
            await self._redis.delete(linked)
            return message
        event = orjson.loads(stored)
        if taken > int(event["count"]):
            return message  # more images than the menu announced: a later, separate send
        fields = {**message.fields, "menu_event": event["event"]}
        return dataclasses.replace(message, fields=fields)
