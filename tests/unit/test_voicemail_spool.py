"""The voicemail spool reader over files laid out as app_voicemail leaves them."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.telephony.voicemail import (
    MessageNotFound,
    VoicemailSpool,
    boxes_holding_messages,
    parse_callerid,
    parse_message_txt,
    split_message_id,
)

# The .txt app_voicemail (Asterisk 22) writes next to each message.
TXT = """;
; Message Information file
;
[message]
origmailbox=sales
context=queue-entry
macrocontext=
exten=sales
rdnis=unknown
priority=6
callerchan=PJSIP/trunk-00000002
callerid="Customer" <0612345678>
origdate=Wed Nov 25 10:20:11 AM UTC 2026
origtime={origtime}
category=
msg_id={msg_id}
flag=
duration={duration}
"""


def write_message(box_dir: Path, folder: str, n: int, *, origtime: int, msg_id: str,
                  seconds: float = 2.0, duration: int = 2) -> Path:
    folder_dir = box_dir / folder
    folder_dir.mkdir(parents=True, exist_ok=True)
    base = folder_dir / f"msg{n:04d}"
    base.with_suffix(".txt").write_text(TXT.format(origtime=origtime, msg_id=msg_id,
                                                   duration=duration))
    with wave.open(str(base.with_suffix(".wav")), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00" * int(8000 * seconds))
    return base


def test_parse_message_txt() -> None:
    info = parse_message_txt(TXT.format(origtime=1764065320, msg_id="1764065320-0000000a",
                                        duration=7))
    assert info is not None
    assert (info.msg_id, info.origtime, info.duration) == ("1764065320-0000000a", 1764065320, 7)
    assert (info.caller_name, info.caller_number) == ("Customer", "0612345678")
    assert info.orig_mailbox == "sales"


def test_a_txt_without_msg_id_or_origtime_is_not_a_message() -> None:
    assert parse_message_txt("[message]\norigtime=1\n") is None
    assert parse_message_txt("[message]\nmsg_id=1-0\norigtime=soon\n") is None


@pytest.mark.parametrize(("raw", "expected"), [
    ('"Customer" <0612345678>', ("Customer", "0612345678")),
    ("<0612345678>", (None, "0612345678")),
    ("0612345678", (None, "0612345678")),
    ("+33612345678", (None, "+33612345678")),
    ('"Unknown" <>', (None, None)),
    ("Unknown", (None, None)),
    ("", (None, None)),
    ("Jane Doe <1001>", ("Jane Doe", "1001")),
])
def test_parse_callerid(raw: str, expected: tuple[str | None, str | None]) -> None:
    assert parse_callerid(raw) == expected


@given(st.text(max_size=80))
def test_parse_callerid_never_raises(raw: str) -> None:
    name, number = parse_callerid(raw)
    assert name is None or isinstance(name, str)
    assert number is None or isinstance(number, str)


@given(st.text(max_size=300))
def test_parse_message_txt_never_raises(raw: str) -> None:
    parse_message_txt(raw)


def test_lists_inbox_and_old_newest_first_with_wav_durations(tmp_path: Path) -> None:
    write_message(tmp_path / "sales", "INBOX", 0, origtime=100, msg_id="100-00000001",
                  seconds=3.5)
    write_message(tmp_path / "sales", "Old", 0, origtime=50, msg_id="50-00000000")
    write_message(tmp_path / "support", "INBOX", 0, origtime=200, msg_id="200-00000002")
    (tmp_path / "support" / "tmp").mkdir()  # app_voicemail's recording area is ignored
    spool = VoicemailSpool(tmp_path, "groups")

    found = spool.messages()
    assert [m.id for m in found] == ["support:200-00000002", "sales:100-00000001",
                                     "sales:50-00000000"]
    first_sales = found[1]
    assert first_sales.heard is False and first_sales.folder == "INBOX"
    assert first_sales.duration == 3.5  # from the WAV, not the whole seconds of the .txt
    assert first_sales.audio is not None and first_sales.size_bytes > 8000 * 2 * 3
    assert found[2].heard is True
    assert [m.box for m in spool.messages(["sales"])] == ["sales", "sales"]
    assert spool.boxes() == ["sales", "support"]


def test_ids_survive_renumbering(tmp_path: Path) -> None:
    """app_voicemail renumbers msgNNNN when a message moves; the id does not change."""
    base = write_message(tmp_path / "sales", "INBOX", 1, origtime=100, msg_id="100-00000001")
    spool = VoicemailSpool(tmp_path, "groups")
    before = spool.get("sales:100-00000001")
    (tmp_path / "sales" / "Old").mkdir()
    for suffix in (".txt", ".wav"):
        base.with_suffix(suffix).rename(tmp_path / "sales" / "Old" / f"msg0000{suffix}")
    after = spool.get("sales:100-00000001")
    assert (before.folder, after.folder) == ("INBOX", "Old")
    assert after.id == before.id and after.heard


def test_missing_audio_and_unknown_ids(tmp_path: Path) -> None:
    base = write_message(tmp_path / "sales", "INBOX", 0, origtime=100, msg_id="100-00000001",
                         duration=4)
    base.with_suffix(".wav").unlink()
    spool = VoicemailSpool(tmp_path, "groups")
    msg = spool.get("sales:100-00000001")
    assert msg.audio is None and msg.duration == 4.0  # the .txt's count
    for bad in ("sales:100-00000002", "nobox:1-0", "..:1-0", "../x:1-0", "sales", ""):
        with pytest.raises(MessageNotFound):
            spool.get(bad)
    assert VoicemailSpool(tmp_path / "absent", "groups").messages() == []


def test_split_message_id_rejects_path_tricks() -> None:
    assert split_message_id("sales:1-0") == ("sales", "1-0")
    for bad in ("..:1-0", ".:1-0", "../sales:1-0", "sales/INBOX:1-0", "sales:1-0/../x",
                "sales:abc", "sa les:1-0"):
        with pytest.raises(ValueError):
            split_message_id(bad)


def test_cached_listing_sees_changes_and_deletions(tmp_path: Path) -> None:
    base = write_message(tmp_path / "sales", "INBOX", 0, origtime=100, msg_id="100-00000001",
                         seconds=1.0)
    spool = VoicemailSpool(tmp_path, "groups")
    assert [m.duration for m in spool.messages()] == [1.0]
    write_message(tmp_path / "sales", "INBOX", 0, origtime=100, msg_id="100-00000001",
                  seconds=2.25)  # the same path, new content (inode or size changes)
    assert [m.duration for m in spool.messages()] == [2.25]
    write_message(tmp_path / "sales", "INBOX", 1, origtime=101, msg_id="101-00000002")
    assert len(spool.messages()) == 2
    base.with_suffix(".txt").unlink()
    base.with_suffix(".wav").unlink()
    assert [m.msg_id for m in spool.messages()] == ["101-00000002"]


def test_boxes_holding_messages_are_those_with_a_message_in_a_listed_folder(
    tmp_path: Path
) -> None:
    write_message(tmp_path / "sales", "INBOX", 0, origtime=100, msg_id="100-00000001")
    write_message(tmp_path / "helpdesk", "Old", 3, origtime=50, msg_id="50-00000000")
    (tmp_path / "emptied" / "INBOX").mkdir(parents=True)  # its last message was deleted
    (tmp_path / "drafts" / "tmp").mkdir(parents=True)
    (tmp_path / "drafts" / "tmp" / "msg0000.txt").write_text("")  # not a folder we list
    assert boxes_holding_messages(tmp_path) == ["helpdesk", "sales"]
    assert boxes_holding_messages(tmp_path / "nosuch") == []
