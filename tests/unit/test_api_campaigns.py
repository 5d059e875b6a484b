"""Outbound routes without a database: roles, and bad input refused before any I/O.

The app's sessionmaker points at a closed port, so a request that reached the database
would answer 503; a 422 here proves the input was refused before the store was asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.wav import tone_wav
from tests.unit._api_fakes import bearer, make_app

GOOD: dict[str, Any] = {"name": "spring", "caller_id": "4008001234", "seats": ["1001"]}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def fields(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body["code"] == "invalid_input", body
    return [f["field"] for f in body["details"]["fields"]]


@pytest.mark.parametrize(
    ("method", "path", "json"),
    [
        ("POST", "/v1/campaigns", GOOD),
        ("PATCH", "/v1/campaigns/1", {"max_attempts": 2}),
        ("POST", "/v1/campaigns/1/start", None),
        ("POST", "/v1/campaigns/1/leads", None),
        ("PUT", "/v1/campaigns/1/script", {"script": "hello"}),
        ("PUT", "/v1/campaigns/1/abandon-message", None),
        ("DELETE", "/v1/campaigns/1/abandon-message", None),
        ("GET", "/v1/dnc", None),
        ("POST", "/v1/dnc", {"phone": "13800138000"}),
    ],
)
async def test_agents_cannot_manage_campaigns_or_dnc(
    client: httpx.AsyncClient, method: str, path: str, json: Any
) -> None:
    response = await client.request(method, path, json=json, headers=bearer("agent-token"))
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


async def test_only_admins_take_numbers_off_the_dnc_list(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/dnc/+8613800138000", headers=bearer("supervisor-token"))
    assert response.status_code == 403


async def test_no_token_no_campaigns(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/campaigns")).status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"windows": [{"start": "18:00", "end": "09:00"}]}, "windows.0"),
        ({"windows": [{"start": "10:00", "end": "12:00", "days": []}]}, "windows.0"),
        ({"windows": []}, "windows"),
        ({"windows": [{"start": "25:00", "end": "26:00"}]}, "windows.0.start"),
        ({"retry_delays": {"busy": 59}}, "retry_delays.busy"),
        ({"retry_delays": {"sale": 600}}, "retry_delays.sale.[key]"),
        ({"cap_per_day": 0}, "cap_per_day"),
        ({"cap_per_week": 0}, "cap_per_week"),
        ({"cap_per_day": 3, "cap_per_week": 2}, "cap_per_week"),
        ({"default_timezone": "Mars/Olympus"}, "default_timezone"),
        ({"default_region": "XX"}, "default_region"),
        ({"caller_id": "4008\r\n001234"}, "caller_id"),
        ({"seats": ["1001\r\nAction: Originate"]}, "seats.0"),
        ({"mode": "blaster"}, "mode"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"grade_cadences": {"H": 0}}, "grade_cadences.H"),
        ({"unknown": 1}, "unknown"),
        ({"abandon_target": 0}, "abandon_target"),
        ({"abandon_target": -0.01}, "abandon_target"),
        ({"abandon_target": 0.031}, "abandon_target"),
        ({"abandon_target": 3}, "abandon_target"),  # percent, not a fraction
        ({"abandon_target": "low"}, "abandon_target"),
    ],
)
async def test_bad_campaigns_are_refused_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/v1/campaigns", json={**GOOD, **change}, headers=bearer("supervisor-token")
    )
    assert response.status_code == 422, response.text
    assert field in fields(response)


async def test_bad_import_parameters_are_refused_before_reading(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/campaigns/1/leads?encoding=klingon", content=b"phone\n1\n",
        headers=bearer("supervisor-token"),
    )
    assert response.status_code == 422 and fields(response) == ["encoding"]
    response = await client.post(
        "/v1/campaigns/0/leads", content=b"", headers=bearer("supervisor-token")
    )
    assert response.status_code == 422 and fields(response) == ["campaign_id"]


async def test_bad_dispositions_and_dnc_numbers(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/calls/node1:1.1/disposition", json={"code": "maybe"}, headers=bearer()
    )
    assert response.status_code == 422 and fields(response) == ["code"]
    response = await client.post(
        "/v1/dnc", json={"phone": "call me maybe"}, headers=bearer("supervisor-token")
    )
    assert response.status_code == 422 and fields(response) == ["phone"]


async def test_a_body_that_is_not_json_is_named_as_such(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/campaigns", content=b'{"name": "spring",',
                                 headers={**bearer("supervisor-token"),
                                          "Content-Type": "application/json"})
    assert response.status_code == 422 and fields(response) == ["body"]
    message = response.json()["details"]["fields"][0]["message"]
    assert message.startswith("not valid JSON at character 18"), message
    assert response.json()["message"] == "invalid body"


async def test_a_good_request_reaches_the_store(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/campaigns", json=GOOD, headers=bearer("supervisor-token"))
    assert response.status_code == 503 and response.json()["code"] == "unavailable"


BAD_SOUND_NAMES = [
    "../../etc/passwd",
    "/var/spool/asterisk/monitor/secret",  # an absolute path: only the service's own
    "tt-allbusy,skip",  # Playback's option separator
    "tt-allbusy&custom/other",  # Playback's file separator
    "tt-allbusy\r\nAction: Originate",
    "TT-AllBusy",
    "tt allbusy",
    "tt-allbusy.wav",
    "x" * 81,
    "",
]


@pytest.mark.parametrize("name", BAD_SOUND_NAMES)
async def test_an_abandon_message_must_be_a_safe_sound_name(
    client: httpx.AsyncClient, name: str
) -> None:
    created = await client.post("/v1/campaigns", json={**GOOD, "abandon_message": name},
                                headers=bearer("supervisor-token"))
    assert created.status_code == 422 and fields(created) == ["abandon_message"]
    patched = await client.patch("/v1/campaigns/1", json={"abandon_message": name},
                                 headers=bearer("supervisor-token"))
    assert patched.status_code == 422 and fields(patched) == ["abandon_message"]


async def test_an_abandon_message_must_exist_on_the_node(client: httpx.AsyncClient) -> None:
    """A missing sound is skipped at play time: the customer would hear nothing."""
    for method, path in (("POST", "/v1/campaigns"), ("PATCH", "/v1/campaigns/1")):
        r = await client.request(method, path, json={**GOOD, "abandon_message": "no-such-sound"}
                                 if method == "POST" else {"abandon_message": "no-such-sound"},
                                 headers=bearer("supervisor-token"))
        assert r.status_code == 422 and fields(r) == ["abandon_message"], r.text
        assert "no sound named 'no-such-sound'" in r.json()["message"]


async def upload(client: httpx.AsyncClient, body: bytes | AsyncIterator[bytes],
                 content_type: str | None = "audio/wav") -> httpx.Response:
    headers = bearer("supervisor-token")
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await client.put("/v1/campaigns/1/abandon-message", content=body, headers=headers)


@pytest.mark.parametrize(("body", "reason"), [
    (tone_wav(2.0, channels=2), "not_mono"),
    (tone_wav(2.0, rate=44100), "unsupported_rate"),
    (tone_wav(2.0, width=1), "not_pcm16"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(200), "not_wav"),
    (b"", "not_wav"),
    (tone_wav(0.0), "empty"),
    (tone_wav(2.0, frequency=0.0), "silent"),
    (tone_wav(31.0), "too_long"),
])
async def test_a_recording_asterisk_cannot_play_is_refused_before_any_io(
    client: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    r = await upload(client, body)
    assert r.status_code == 422 and fields(r) == ["body"], r.text
    assert r.json()["details"]["reason"] == reason


async def test_an_upload_must_say_it_is_a_wav(client: httpx.AsyncClient) -> None:
    for content_type in ("audio/mpeg", "application/octet-stream", None):
        r = await upload(client, tone_wav(2.0), content_type)
        assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
        assert r.json()["details"]["field"] == "Content-Type"
    assert (await upload(client, tone_wav(2.0), "audio/x-wav; codecs=1")).status_code == 503


async def test_an_oversized_upload_is_refused_without_reading_it_all(
    client: httpx.AsyncClient,
) -> None:
    cap = 30 * 16000 * 2 + 64 * 1024
    r = await upload(client, bytes(cap + 1))
    assert r.status_code == 413 and r.json()["details"] == {"field": "body", "max_bytes": cap}

    async def streamed() -> AsyncIterator[bytes]:  # chunked: no Content-Length to go by
        for _ in range(cap // 65536 + 2):
            yield bytes(65536)

    assert (await upload(client, streamed())).status_code == 413


async def test_a_good_recording_reaches_the_store(client: httpx.AsyncClient) -> None:
    for rate in (8000, 16000):
        r = await upload(client, tone_wav(1.0, rate=rate))
        assert r.status_code == 503 and r.json()["code"] == "unavailable"
