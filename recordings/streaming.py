"""Serving part of a file without loading it: chunks read in a worker thread.

The caller opens the file before answering, so a sweep that unlinks it meanwhile does not
cut the download short (the open descriptor keeps the data until it is closed).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

CHUNK = 256 * 1024  # large enough that the thread hop is a small part of each read


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
