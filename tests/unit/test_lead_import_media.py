"""The lead import reads the media types it knows, in the charset they name; the rest is a
415 before a byte of the body is kept (the database here is unreachable: a request that
got past the checks would answer 503)."""

from __future__ import annotations

import httpx
import pytest

from cti.api.errors import ApiError
from cti.api.lead_imports import body_format
from dialer.leads import Format
from tests.unit._api_fakes import bearer, make_app


@pytest.mark.parametrize(("content_type", "fmt", "expected"), [
    (None, None, (None, None)),
    ("text/csv", None, ("csv", None)),
    ("text/csv; charset=ISO-8859-1", None, ("csv", "iso8859-1")),
    ('text/csv;charset="GBK"', None, ("csv", "gbk")),
    ("text/csv; charset=us-ascii", None, ("csv", None)),  # ASCII: detection says as much
    ("application/json; charset=utf-8", None, (None, "utf-8")),  # an array or NDJSON
    ("application/x-ndjson", None, ("ndjson", None)),
    ("text/tab-separated-values", None, ("csv", None)),
    ("text/plain", None, (None, None)),  # no more than no Content-Type: the body tells
    ("application/octet-stream", None, (None, None)),
    ("image/png", "csv", ("csv", None)),  # ?format= is the client saying what it is
    ("application/json", "csv", ("csv", None)),
])
def test_the_format_and_encoding_come_from_the_query_else_the_content_type(
    content_type: str | None, fmt: Format | None, expected: tuple[str | None, str | None]
) -> None:
    assert body_format(content_type, fmt, None) == expected


def test_the_query_encoding_and_the_charset_must_agree() -> None:
    assert body_format("text/csv; charset=gbk", None, "GBK") == ("csv", "GBK")
    with pytest.raises(ApiError) as refused:
        body_format("text/csv; charset=gbk", None, "latin-1")
    assert refused.value.status == 422
    assert refused.value.details["fields"][0]["field"] == "encoding"


@pytest.mark.parametrize(("headers", "field"), [
    ({"Content-Type": "image/png"}, "Content-Type"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, "Content-Type"),  # curl -d
    ({"Content-Type": "application/vnd.ms-excel"}, "Content-Type"),
    ({"Content-Type": "multipart/form-data; boundary=x"}, "Content-Type"),
    ({"Content-Type": "text/csv; charset=klingon"}, "Content-Type"),
    ({"Content-Type": "text/csv", "Content-Encoding": "gzip"}, "Content-Encoding"),
])
async def test_what_the_import_does_not_read_is_415(headers: dict[str, str],
                                                     field: str) -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.post("/v1/campaigns/1/leads", content=b"phone\n13800138000\n",
                         headers={**bearer("supervisor-token"), **headers})
    assert r.status_code == 415, r.text
    body = r.json()
    assert body["code"] == "unsupported_media_type" and body["details"]["field"] == field


async def test_a_form_upload_is_415_naming_the_accepted_types() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.post("/v1/campaigns/1/leads", headers=bearer("supervisor-token"),
                         files={"file": ("good.csv", b"phone,name\n13800138000,a\n",
                                         "text/csv")})
        forced = await c.post("/v1/campaigns/1/leads?format=csv",
                              headers=bearer("supervisor-token"),
                              files={"file": ("good.csv", b"phone\n13800138000\n")})
    assert r.status_code == 415 and forced.status_code == 415
    body = r.json()
    assert {"text/csv", "application/json", "application/x-ndjson"} <= set(
        body["details"]["accepted"])
    assert "--data-binary" in body["message"]


@pytest.mark.parametrize("headers", [
    {}, {"Content-Type": "text/csv"}, {"Content-Type": "text/plain"},
    {"Content-Type": "application/octet-stream"}, {"Content-Type": "image/png"},
])
async def test_accepted_types_get_past_the_check(headers: dict[str, str]) -> None:
    """503: the request reached the campaign lookup (the unreachable database)."""
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.post("/v1/campaigns/1/leads" + ("?format=csv" if headers.get(
            "Content-Type") == "image/png" else ""), content=b"phone\n13800138000\n",
            headers={**bearer("supervisor-token"), **headers})
    assert r.status_code == 503, r.text
