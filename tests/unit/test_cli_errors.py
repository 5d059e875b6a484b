"""The ``cti`` command on misconfigurations: one line naming the setting, never a
traceback (the database itself refusing us is in tests/integration/test_cli_tokens.py)."""

from __future__ import annotations

import pytest

from cti import cli

TOKEN = ["token", "create", "--user", "ann", "--role", "agent"]


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("cti: ")]
    assert len(lines) == 1 and err.strip() == lines[0], err
    return lines[0]


@pytest.mark.parametrize("argv", [TOKEN, ["migrate"], ["recordings", "sweep"],
                                  ["token", "list"]])
@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("notaurl", "not a database URL"),
        ("sqlite:///x.db", "postgresql+asyncpg://"),
        ("postgresql://cti@127.0.0.1:5432/cti", "postgresql+asyncpg://"),
        ("mysql://x@y/z", "postgresql+asyncpg://"),
        ("postgresql+asyncpg://cti@127.0.0.1:99999/cti", "port"),
        ("postgresql+asyncpg://cti@127.0.0.1:5432", "database"),
    ],
)
def test_a_database_url_that_cannot_work_exits_2_naming_the_setting(
    argv: list[str], url: str, said: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CTI_DATABASE__URL", url)
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    line = one_line_error(capsys)
    assert "CTI_DATABASE__URL" in line and said in line, line


def test_the_password_in_a_bad_database_url_is_not_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CTI_DATABASE__URL", "postgresql://cti:s3cret@127.0.0.1/cti")
    with pytest.raises(SystemExit):
        cli.main(TOKEN)
    assert "s3cret" not in one_line_error(capsys)


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("CTI_AMI__NODES", "garbage", "not valid JSON"),
        ("CTI_AMI__NODES", '[{"name": 1}]', "CTI_AMI__NODES"),
        ("CTI_API__PORT", "abc", "integer"),
        ("CTI_ENVIRONMENT", "staging", "'production'"),
    ],
)
def test_bad_settings_exit_2_with_one_line_naming_the_variable(
    name: str, value: str, said: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["migrate"])
    assert exit_.value.code == 2
    line = one_line_error(capsys)
    assert line.startswith("cti: error: invalid settings from the environment: ")
    assert name in line and said in line, line


def test_an_unknown_log_level_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CTI_LOG_LEVEL", "LOUD")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["migrate"])
    assert exit_.value.code == 2
    assert "CTI_LOG_LEVEL" in one_line_error(capsys)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["token", "revoke"], "ID"),
        (["token", "revoke", "x"], "ID"),
        (["token", "revoke", "0"], "ID"),
        (["token", "revoke", "3", "--user", "ann"], "--user"),
        (["token", "list", "--user", "a b"], "--user"),
        (["token", "create", "--user", "ann", "--role", "agent", "--change-role", "x"],
         "unrecognized"),
    ],
)
def test_bad_token_arguments_exit_2_naming_the_argument(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert named in capsys.readouterr().err


def test_token_arguments_parse() -> None:
    parse = cli.build_parser().parse_args
    args = parse(["token", "create", "--user", "ann", "--role", "admin", "--change-role"])
    assert args.change_role is True
    assert parse(["token", "create", "--user", "ann", "--role", "admin"]).change_role is False
    assert parse(["token", "list"]).user is None
    assert parse(["token", "list", "--user", "ann"]).user == "ann"
    revoke = parse(["token", "revoke", "12"])
    assert (revoke.token_id, revoke.user) == (12, None)
    revoke = parse(["token", "revoke", "--user", "ann"])
    assert (revoke.token_id, revoke.user) == (None, "ann")
