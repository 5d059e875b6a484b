"""``cti backup`` / ``cti restore`` argument checking (the runs are in integration tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti import cli


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["backup", "--target", ""], "--target"),  # Path("") would be the working directory
        (["backup", "--target", "   "], "--target"),
        (["restore", "--from", ""], "--from"),
        (["backup", "--target", "/b", "--keep", "0"], "--keep"),
        (["backup", "--target", "/b", "--keep", "many"], "--keep"),
        (["restore", "--from", "/b", "--generation", "../etc"], "--generation"),
        (["restore", "--from", "/b", "--generation", "yesterday"], "--generation"),
    ],
)
def test_bad_backup_arguments_exit_2_naming_the_argument(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert f"argument {named}" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_good_backup_arguments_parse() -> None:
    args = cli.build_parser().parse_args(
        ["restore", "--from", "/srv/b", "--generation", "2026-11-25T020000Z.1", "--clean"])
    assert (args.source, args.generation, args.clean) == (Path("/srv/b"),
                                                          "2026-11-25T020000Z.1", True)
    args = cli.build_parser().parse_args(["backup", "--target", "/srv/b", "--keep", "30",
                                          "--allow-empty"])
    assert (args.target, args.keep, args.allow_empty) == (Path("/srv/b"), 30, True)
