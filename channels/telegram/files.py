"""Photos, documents, voice and video from a chat, fetched once and kept with the ticket.

Telegram keeps files behind getFile + a download URL that contains the bot token, so a URL
is never stored: the bytes are downloaded through the configured Bot API base and saved in the
attachment store (by content hash). Files over the Bot API's 20 MB download limit (or our
own) are left out and the citizen is told.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiogram import Bot
from aiogram.types import Message

from intake.domain.messages import Attachment, MessageKind
from intake.ingest.attachments import AttachmentStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileRef:
    file_id: str
    filename: str
    content_type: str
    size: int
    kind: MessageKind


def file_of(message: Message) -> FileRef | None:
    """The one file a message carries (the largest size of a photo), if any."""
    if message.photo:
        p = message.photo[-1]
        return FileRef(
            p.file_id,
            f"photo_{p.file_unique_id}.jpg",
            "image/jpeg",
            p.file_size or 0,
            MessageKind.IMAGE,
        )
    if message.document:
        d = message.document
        name = d.file_name or f"document_{d.file_unique_id}"
        mime = d.mime_type or "application/octet-stream"
        kind = MessageKind.IMAGE if mime.startswith("image/") else MessageKind.FILE
        return FileRef(d.file_id, name, mime, d.file_size or 0, kind)
    if message.voice:
        v = message.voice
        return FileRef(
            v.file_id,
            f"voice_{v.file_unique_id}.ogg",
            v.mime_type or "audio/ogg",
            v.file_size or 0,
            MessageKind.VOICE,
        )
    if message.video:
        v = message.video
        return FileRef(
            v.file_id,
            v.file_name or f"video_{v.file_unique_id}.mp4",
            v.mime_type or "video/mp4",
            v.file_size or 0,
            MessageKind.VIDEO,
        )
    return None


class FileFetcher:
    def __init__(self, store: AttachmentStore, *, max_bytes: int) -> None:
        self._store = store
        self._max = max_bytes

    async def fetch(self, bot: Bot, ref: FileRef) -> Attachment | None:
        """The stored attachment, or None when the file is too large to take."""
        if ref.size > self._max:
            log.info("telegram file %s too large (%d bytes): not attached", ref.filename, ref.size)
            return None
        info = await bot.get_file(ref.file_id)
        if not info.file_path or (info.file_size or 0) > self._max:
            return None
        buffer = await bot.download_file(info.file_path)
        data = buffer.read() if buffer is not None else b""
        if len(data) > self._max:
            return None
        saved = await self._store.save(data, filename=ref.filename, content_type=ref.content_type)
        return saved
