"""Serving part of a file without loading it: chunks read in a worker thread.

The caller opens the file before answering, so a sweep that unlinks it meanwhile does not
cut the download short (the open descriptor keeps the data until it is closed).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

CHUNK = 1024 * 1024  # 1 MiB: 256 KiB served 433 MB/s, 1 MiB 615 MB/s (bench/recordings)


async def file_chunks(fd: int, start: int, length: int, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """``length`` bytes of ``fd`` from ``start``, then close ``fd`` (also when cancelled)."""
    try:
        offset, remaining = start, length
        while remaining > 0:
            data = await asyncio.to_thread(os.pread, fd, min(chunk, remaining), offset)
            if not data:  # the file shrank under us: end the body short rather than hang
                break
            offset += len(data)
            remaining -= len(data)
            yield data
    finally:
        os.close(fd)
