"""The called-customers bench's pure parts: number classes and the INVITE log."""

from __future__ import annotations

from pathlib import Path

from tests.support.sipp import (
    CALLED_CUSTOMER_CLASSES,
    InviteRow,
    called_class,
    parse_invite_log,
    parse_uas_log,
)


def test_every_last_digit_has_a_class() -> None:
    assert sorted(CALLED_CUSTOMER_CLASSES) == list("0123456789")
    assert [called_class(f"06123456{d}") for d in "0123456789"] == [
        "answer", "answer", "answer", "busy", "failure",
        "ring", "ring", "ring", "ring", "ring",
    ]
    assert called_class("") == called_class("12a") == "failure"


def test_invite_log_rows(tmp_path: Path) -> None:
    log = tmp_path / "invites.log"
    assert parse_invite_log(log) == []
    log.write_text(
        "INVITE;1795612579.000000;510435.000000;0612345670;887139b9-9370@x\n"
        "garbage line\n"
        "INVITE;1795612580.000000;000007.000000;0612345673;call;with;semicolons\n"
    )
    assert parse_invite_log(log) == [
        InviteRow(1795612579.510435, "0612345670", "887139b9-9370@x"),
        InviteRow(1795612580.000007, "0612345673", "call;with;semicolons"),
    ]


def test_answers_and_byes_are_logged_beside_the_invites(tmp_path: Path) -> None:
    log = tmp_path / "invites.log"
    log.write_text(
        "INVITE;1795612579.000000;000000.000000;0612345670;a@x\n"
        "ANSWER;1795612580.000000;000001.000000;0612345670;a@x\n"
        "BYE;1795612592.000000;500000.000000;0612345670;a@x\n"
    )
    assert [r.number for r in parse_invite_log(log)] == ["0612345670"]
    assert parse_uas_log(log, "ANSWER") == [InviteRow(1795612580.000001, "0612345670", "a@x")]
    assert parse_uas_log(log, "BYE") == [InviteRow(1795612592.5, "0612345670", "a@x")]
