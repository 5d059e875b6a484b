"""Hold music end to end: uploads over REST (WAV, MP3, OGG made by ffmpeg), converted by
the service, loaded by the real Asterisk 22 without a restart, and heard by a caller.

The "caller on hold" check sets the uploaded class on skill group support over REST.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.support.service import CtiService, serving
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration

MAX_UPLOAD = 1 << 20  # 1 MiB for this service: a 2 s 44.1 kHz stereo WAV is ~350 kB


@pytest.fixture
def service(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path
) -> Iterator[CtiService]:
    moh = asterisk.host_path("moh")
    shutil.rmtree(moh, ignore_errors=True)
    moh.mkdir()
    (asterisk.host_path("etc", "cti", "musiconhold.conf")).unlink(missing_ok=True)
    with serving(asterisk, pg_cluster, pg_url, tmp_path, truncate=("moh_classes",),
                 env={"CTI_MEDIA__MOH_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)}) as svc:
        yield svc


def tone(path: Path, *codec: str, freq: int = 440, seconds: float = 2.0) -> Path:
    """A 44.1 kHz stereo sine tone: the kind of file a supervisor uploads."""
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency={freq}:sample_rate=44100:duration={seconds}", "-ac", "2", *codec,
         str(path)],
        check=True, timeout=60,
    )
    return path


def upload(svc: CtiService, cls: str, path: Path, **data: str) -> Any:
    with path.open("rb") as f:
        return svc.http.post(f"/v1/music-on-hold/{cls}/files", files={"file": (path.name, f)},
                             data=data, timeout=60)


def class_block(cli_output: str, name: str) -> str:
    """The lines of ``moh show classes|files`` that belong to class ``name``."""
    blocks = cli_output.split("Class: ")
    return next((b for b in blocks if b.split("\n", 1)[0].strip() == name), "")


def test_uploads_are_converted_loaded_and_heard(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService, tmp_path: Path
) -> None:
    created = service.http.post("/v1/music-on-hold", json={"name": "jazz",
                                                           "description": "for sales"})
    assert created.status_code == 201, created.text
    assert created.json()["active"] is False  # no file yet: not in Asterisk's config

    sources = [
        tone(tmp_path / "Intro Theme.wav", freq=440),
        tone(tmp_path / "loop.mp3", "-codec:a", "libmp3lame", "-b:a", "64k", freq=550),
        tone(tmp_path / "outro.ogg", "-codec:a", "libvorbis", freq=660),
    ]
    for source in sources:
        r = upload(service, "jazz", source)
        assert r.status_code == 201, r.text
        assert r.json()["applied"] is True
    listed = service.get("/v1/music-on-hold/jazz")
    assert listed["active"] is True
    assert {(f["name"], f["source_format"]) for f in listed["files"]} == {
        ("intro-theme.wav", "wav"), ("loop.wav", "mp3"), ("outro.wav", "ogg")}
    assert all(1.9 <= f["duration_seconds"] <= 2.2 for f in listed["files"]), listed

    class_dir = asterisk.host_path("moh", "jazz")
    for f in listed["files"]:
        with wave.open(str(class_dir / f["name"]), "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
            assert 1.9 <= w.getnframes() / 8000 <= 2.2

    # Loaded without a restart
    classes = class_block(asterisk.cli("moh show classes"), "jazz")
    assert "Mode: files" in classes and str(asterisk.path("moh", "jazz")) in classes
    files = class_block(asterisk.cli("moh show files"), "jazz")
    assert files.count("File:") == 3, files
    for stem in ("intro-theme", "loop", "outro"):
        assert f"/jazz/{stem}" in files

    # A caller queued in a group whose music class is "jazz" hears it.
    r = service.http.patch("/v1/skill-groups/support", json={"music_class": "jazz"})
    assert r.status_code == 200, r.text
    agent = sipp.agent("1002", mode="no_answer")  # a member keeps the caller queued
    asterisk.cli("queue add member PJSIP/1002 to support")
    try:
        seen = asyncio.run(moh_class_heard(asterisk, sipp))
    finally:
        agent.stop()
    assert seen == "jazz"
    in_use = service.http.delete("/v1/music-on-hold/jazz")
    assert in_use.status_code == 409 and "support" in in_use.text
    r = service.http.patch("/v1/skill-groups/support", json={"music_class": "default"})
    assert r.status_code == 200, r.text

    # Deleting a file, then the class, takes them out of Asterisk again.
    gone = service.http.delete("/v1/music-on-hold/jazz/files/loop.wav")
    assert gone.status_code == 200 and gone.json()["applied"] is True
    assert class_block(asterisk.cli("moh show files"), "jazz").count("File:") == 2
    assert not (class_dir / "loop.wav").exists()
    gone = service.http.delete("/v1/music-on-hold/jazz")
    assert gone.status_code == 200 and gone.json()["applied"] is True
    assert class_block(asterisk.cli("moh show classes"), "jazz") == ""
    assert not class_dir.exists()
    assert service.http.get("/v1/music-on-hold/jazz").status_code == 404


async def moh_class_heard(asterisk: AsteriskInstance, sipp: SippBench) -> str:
    """Call 300 (support) and return the Class of the first MusicOnHoldStart AMI event."""
    p = asterisk.params
    reader, writer = await asyncio.open_connection("127.0.0.1", p.ami_port)
    try:
        await reader.readline()  # banner
        writer.write(f"Action: Login\r\nUsername: {p.ami_username}\r\nSecret: {p.ami_secret}"
                     "\r\nEvents: call\r\n\r\n".encode())
        await writer.drain()
        customer = sipp.customer("300", hold=6.0, play_audio=False)
        try:
            async with asyncio.timeout(30):
                while True:
                    message = await read_message(reader)
                    if message.get("Event") == "MusicOnHoldStart":
                        return message.get("Class", "")
        finally:
            customer.stop()
    finally:
        writer.close()


async def read_message(reader: asyncio.StreamReader) -> dict[str, str]:
    message: dict[str, str] = {}
    while True:
        line = (await reader.readline()).decode(errors="replace").rstrip("\r\n")
        if not line:
            if message:
                return message
            continue
        key, _, value = line.partition(": ")
        message[key] = value


def test_bad_uploads_change_nothing(
    asterisk: AsteriskInstance, service: CtiService, tmp_path: Path
) -> None:
    assert service.http.post("/v1/music-on-hold", json={"name": "hold"}).status_code == 201
    good = tone(tmp_path / "good.wav")
    assert upload(service, "hold", good).status_code == 201
    conf = asterisk.host_path("etc", "cti", "musiconhold.conf").read_text()
    before = sorted(p.name for p in asterisk.host_path("moh", "hold").iterdir())

    text = tmp_path / "notes.mp3"
    text.write_text("these are not the sounds you are looking for\n" * 20)
    r = upload(service, "hold", text)
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type", r.text
    assert r.json()["details"]["field"] == "file"

    broken = tmp_path / "broken.ogg"  # an Ogg header and then garbage
    broken.write_bytes(b"OggS" + bytes(range(256)) * 40)
    r = upload(service, "hold", broken)
    assert r.status_code == 422 and r.json()["code"] == "invalid_audio", r.text

    big = tmp_path / "big.wav"
    big.write_bytes(good.read_bytes()[:44] + b"\0" * (MAX_UPLOAD + 200_000))
    r = upload(service, "hold", big)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large", r.text

    dup = upload(service, "hold", good)
    assert dup.status_code == 409 and dup.json()["code"] == "conflict"
    bad_name = upload(service, "hold", good, name="../../etc/passwd")
    assert bad_name.status_code == 422 and "name" in bad_name.json()["message"]
    assert upload(service, "nosuchclass", good).status_code == 404
    bad_class = service.http.post("/v1/music-on-hold", json={"name": "Bad;Name"})
    assert bad_class.status_code == 422 and bad_class.json()["details"]["fields"][0][
        "field"] == "name"
    assert service.http.post("/v1/music-on-hold", json={"name": "default"}).status_code == 422

    # Nothing changed: the same files, the same configuration, no leftovers staged.
    assert sorted(p.name for p in asterisk.host_path("moh", "hold").iterdir()) == before
    assert asterisk.host_path("etc", "cti", "musiconhold.conf").read_text() == conf
    assert list(asterisk.host_path("moh", ".staging").iterdir()) == []
    assert [f["name"] for f in service.get("/v1/music-on-hold/hold")["files"]] == ["good.wav"]
    assert class_block(asterisk.cli("moh show files"), "hold").count("File:") == 1


def test_agents_read_classes_but_cannot_change_them(service: CtiService) -> None:
    token = service.cli("token", "create", "--user", "agent8", "--role", "agent",
                        "--seat", "1008").strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert service.http.get("/v1/music-on-hold", headers=headers).status_code == 200
    r = service.http.post("/v1/music-on-hold", json={"name": "x"}, headers=headers)
    assert r.status_code == 403



def test_the_last_file_of_a_class_a_group_plays_cannot_be_deleted(
    asterisk: AsteriskInstance, service: CtiService, tmp_path: Path
) -> None:
    """Without its last file a class leaves musiconhold.conf: the group's callers would hear
    the default music, and every later inbound change would be refused (422) because of
    that group. So it is refused (409) like deleting the class itself."""
    assert service.http.post("/v1/music-on-hold", json={"name": "lounge"}).status_code == 201
    for name in ("only.wav", "spare.wav"):
        assert upload(service, "lounge", tone(tmp_path / name)).status_code == 201
    r = service.http.patch("/v1/skill-groups/support", json={"music_class": "lounge"})
    assert r.status_code == 200, r.text
    try:
        spare = service.http.delete("/v1/music-on-hold/lounge/files/spare.wav")
        assert spare.status_code == 200, spare.text  # another file is left: still plays

        refused = service.http.delete("/v1/music-on-hold/lounge/files/only.wav")
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert problem["code"] == "conflict"
        assert "'lounge'" in problem["message"] and "support" in problem["message"]
        assert problem["details"]["skill_groups"] == ["support"]
        assert problem["details"]["class"] == "lounge"
        # Nothing changed: the file is listed, on disk and loaded.
        assert [f["name"] for f in service.get("/v1/music-on-hold/lounge")["files"]] == [
            "only.wav"]
        assert asterisk.host_path("moh", "lounge", "only.wav").exists()
        assert class_block(asterisk.cli("moh show files"), "lounge").count("File:") == 1
        # An unrelated inbound change is still accepted.
        wrap_up = service.get("/v1/skill-groups/sales/settings")["wrapup_seconds"]
        r = service.http.patch("/v1/skill-groups/sales", json={"wrapup_seconds": wrap_up})
        assert r.status_code == 200, r.text
    finally:
        r = service.http.patch("/v1/skill-groups/support", json={"music_class": "default"})
        assert r.status_code == 200, r.text

    # Once no group plays the class, its last file goes, and the class leaves Asterisk.
    gone = service.http.delete("/v1/music-on-hold/lounge/files/only.wav")
    assert gone.status_code == 200 and gone.json()["applied"] is True, gone.text
    assert class_block(asterisk.cli("moh show classes"), "lounge") == ""
