"""An upload to a file on disk: bounded memory, a size cap, nothing left on failure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import BinaryIO

CHUNK = 256 * 1024


class UploadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload is larger than {limit} bytes")
        self.limit = limit


class EmptyUpload(Exception):
    pass


async def spool(chunks: AsyncIterable[bytes], directory: Path, limit: int) -> tuple[Path, int]:
    """Write ``chunks`` to a new file in ``directory``; its path and size.

    Raises :class:`UploadTooLarge` past ``limit`` bytes and :class:`EmptyUpload` for no
    bytes at all; either way (or if the client goes away) the partial file is removed.
    """
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.upload"
    size = 0
    pending = bytearray()
    try:
        with path.open("wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(limit)
                pending += chunk
                if len(pending) >= CHUNK:
                    await asyncio.to_thread(out.write, bytes(pending))
                    pending.clear()
            await asyncio.to_thread(_write_synced, out, bytes(pending))
        if size == 0:
            raise EmptyUpload("the upload is empty")
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
    return path, size


def _write_synced(out: BinaryIO, data: bytes) -> None:
    out.write(data)
    out.flush()
    os.fsync(out.fileno())  # the job row will point at it: it must survive a crash


async def read_file(path: Path, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    """``path`` in chunks of a fixed size (the parser's output must not depend on how the
    file was cut: a resumed job re-reads it the same way)."""
    with path.open("rb") as f:
        while data := await asyncio.to_thread(f.read, chunk):
            yield data
