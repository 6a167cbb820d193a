"""Files citizens send, stored once by content (sha256) under the data folder.

In a scaled deployment the data folder is a volume shared by API and worker processes.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from intake.domain.messages import Attachment


class AttachmentStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def path_of(self, storage_key: str) -> Path:
        return self._root / storage_key

    async def save(self, data: bytes, *, filename: str, content_type: str) -> Attachment:
        digest = hashlib.sha256(data).hexdigest()
        key = f"{digest[:2]}/{digest[2:4]}/{digest}"
        await asyncio.to_thread(self._write, key, data)
        return Attachment(
            filename=filename,
            content_type=content_type,
            size=len(data),
            sha256=digest,
            storage_key=key,
        )

    def delete(self, storage_key: str) -> int:
        """Remove a stored file (retention, erasure); 1 if it was there. Blocking: use a thread.

        A key that points outside the folder is refused: keys come from database rows.
        """
        root = self._root.resolve()
        path = (self._root / storage_key).resolve()
        if not path.is_relative_to(root) or path == root:
            raise ValueError("attachment key outside the attachments folder")
        try:
            path.unlink()
        except FileNotFoundError:
            return 0
        return 1

    def _write(self, key: str, data: bytes) -> None:
        path = self._root / key
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a reader never sees half a file
