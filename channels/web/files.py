"""Uploaded attachments: at most N files, each at most M bytes, images or PDF by content."""

from __future__ import annotations

import filetype
from starlette.datastructures import UploadFile

from intake.domain.errors import InvalidInput
from intake.domain.messages import Attachment
from intake.ingest.attachments import AttachmentStore

ALLOWED = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/heic",
        "image/bmp",
        "application/pdf",
    }
)
_CHUNK = 256 * 1024


async def read_limited(upload: UploadFile, *, max_bytes: int) -> bytes:
    data = bytearray()
    while chunk := await upload.read(_CHUNK):
        data.extend(chunk)
        if len(data) > max_bytes:
            raise InvalidInput(
                f"附件 {upload.filename} 超过 {max_bytes // (1024 * 1024)} MB", field="attachments"
            )
    return bytes(data)


def sniff(data: bytes, filename: str) -> str:
    """The type the bytes really are; the name and the browser's claim are not trusted."""
    kind = filetype.guess(data)
    if kind is None or kind.mime not in ALLOWED:
        raise InvalidInput(f"附件 {filename} 不是图片或 PDF 文件", field="attachments")
    return str(kind.mime)


async def store_uploads(
    uploads: list[UploadFile], *, store: AttachmentStore, max_files: int, max_bytes: int
) -> tuple[Attachment, ...]:
    uploads = [u for u in uploads if u.filename]
    if len(uploads) > max_files:
        raise InvalidInput(f"最多上传 {max_files} 个附件", field="attachments")
    saved = []
    for upload in uploads:
        data = await read_limited(upload, max_bytes=max_bytes)
        mime = sniff(data, upload.filename or "file")
        saved.append(await store.save(data, filename=upload.filename or "file", content_type=mime))
    return tuple(saved)
