"""Multipart uploads (``POST /v1/music-on-hold/{class}/files``, the API's one form route)
that are not the form asked for: a 422 naming ``file``, before anything is stored. The
database is down in this app, so an upload that got further would be a 503."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from cti.api.media import MediaServices
from cti.api.moh_service import MohService
from cti.config import AsteriskFilesSettings, MediaSettings
from cti.telephony.files import AsteriskFiles
from tests.unit._api_fakes import bearer, make_app, unreachable_sessionmaker

URL = "/v1/music-on-hold/jazz/files"
BOUNDARY = "x1x"


def part(name: str, filename: str, body: bytes) -> bytes:
    return (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode() + body + b"\r\n"


TWO_FILES = part("file", "tone.wav", b"RIFF") + part("file", "tone.mp3", b"ID3") + (
    f"--{BOUNDARY}--\r\n".encode())


@pytest.mark.parametrize(("content_type", "body", "says"), [
    (f"multipart/form-data; boundary={BOUNDARY}", TWO_FILES, "Too many files"),
    ("multipart/form-data", b"abc", "Missing boundary"),
])
async def test_a_body_that_is_not_a_one_file_form_is_a_422_naming_file(
    tmp_path: Path, content_type: str, body: bytes, says: str
) -> None:
    app = make_app()
    files = AsteriskFiles(AsteriskFilesSettings(root=str(tmp_path / "root")))
    app.state.media = MediaServices(
        voicemail=cast(Any, None),  # not reached by an upload
        moh=MohService(unreachable_sessionmaker(), files, MediaSettings(), lambda: None,
                       "node1"),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        r = await client.post(URL, content=body, headers={
            **bearer("supervisor-token"), "Content-Type": content_type})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_input"
    [named] = r.json()["details"]["fields"]
    assert (named["field"], named["in"]) == ("file", "body")
    assert says in named["message"]
