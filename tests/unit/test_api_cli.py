"""The ``cti`` command line: argument checking (the DB work is in integration tests)."""

from __future__ import annotations

import pytest

from cti import cli


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["token", "create", "--user", "ann", "--role", "root"], "--role"),
        (["token", "create", "--user", "ann"], "--role"),
        (["token", "create", "--role", "agent"], "--user"),
        (["token", "create", "--user", "ann\nx", "--role", "agent"], "--user"),
        (["token", "create", "--user", "ann", "--role", "agent", "--seat", "10 01"], "--seat"),
        (["token", "create", "--user", "ann", "--role", "agent", "--name", ""], "--name"),
        (["serve", "--port", "70000"], "--port"),
        (["token"], "ACTION"),
        ([], "COMMAND"),
        (["frobnicate"], "COMMAND"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert named in capsys.readouterr().err


def test_good_token_arguments_parse() -> None:
    args = cli.build_parser().parse_args(
        ["token", "create", "--user", "ann", "--role", "supervisor", "--seat", "1001"]
    )
    assert (args.user, args.role, args.seat, args.name) == ("ann", "supervisor", "1001", "cli")


def test_bad_settings_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CTI_ENVIRONMENT", "staging")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["migrate"])
    assert exit_.value.code == 2
    assert "environment" in capsys.readouterr().err


def test_an_unreachable_database_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CTI_DATABASE__URL", "postgresql+asyncpg://cti@127.0.0.1:1/cti")
    assert cli.main(["token", "create", "--user", "ann", "--role", "agent"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cti: error: cannot reach the database")
    assert "Traceback" not in err
