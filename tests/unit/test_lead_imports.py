"""Lead imports without a database: the upload spool, ``Prefer: wait``, job progress."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from cti.api.lead_imports import job_out
from cti.api.routes.campaigns import _prefer_wait
from cti.db.lead_import_repository import ImportJobRecord
from cti.imports.spool import EmptyUpload, UploadTooLarge, read_file, spool
from tests.unit._api_fakes import bearer, make_app

T0 = datetime(2025, 6, 2, tzinfo=UTC)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


async def test_an_upload_is_spooled_whole(tmp_path: Path) -> None:
    path, size = await spool(chunks(b"phone\n", b"13800138000\n"), tmp_path / "in", 1024)
    assert size == 18 and path.read_bytes() == b"phone\n13800138000\n"
    assert [c async for c in read_file(path, 5)] == [b"phone", b"\n1380", b"01380", b"00\n"]


@pytest.mark.parametrize(("parts", "error"), [
    ((b"x" * 600, b"x" * 600), UploadTooLarge),
    ((), EmptyUpload),
])
async def test_a_refused_upload_leaves_no_file(
    tmp_path: Path, parts: tuple[bytes, ...], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await spool(chunks(*parts), tmp_path, 1024)
    assert os.listdir(tmp_path) == []


async def test_a_client_that_goes_away_leaves_no_file(tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"phone\n"
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await spool(broken(), tmp_path, 1024)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("header", "seconds"), [
    (None, 0), ("", 0), ("wait=5", 5), ("respond-async, wait=10", 10), ("WAIT = 7", 7),
    ("wait=3600", 60), ("return=minimal", 0), ("handling=lenient; wait=2", 2),
])
def test_prefer_wait_is_read_and_capped(header: str | None, seconds: int) -> None:
    assert _prefer_wait(header) == seconds


def _job(state: str, read: int, total: int) -> ImportJobRecord:
    return ImportJobRecord(
        id=3, campaign_id=7, state=state, options={}, spool_path=None, bytes_total=total,
        bytes_read=read, items_done=0, rows_read=0, accepted=0, rejected=0,
        duplicates_in_list=0, duplicates_in_campaign=0, errors_by_code={}, encoding=None,
        format=None, error=None, attempts=1, created_at=T0, started_at=T0, updated_at=T0,
        finished_at=None,
    )


def test_progress_is_the_share_of_bytes_committed() -> None:
    assert job_out(_job("running", 250, 1000)).progress == 0.25
    # The last batch's bytes_read is what the parser had read when it was cut: done is 1.
    done = job_out(_job("done", 990, 1000))
    assert done.progress == 1.0 and done.bytes_read == 1000
    assert done.errors_url == "/v1/campaigns/7/imports/3/errors"


async def test_an_oversized_upload_is_refused_from_its_length() -> None:
    """413 before the campaign is looked up (the database here is unreachable: 503)."""
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.post("/v1/campaigns/1/leads", content=b"",
                         headers={**bearer("supervisor-token"),
                                  "Content-Length": str(2 * 1024**3)})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
