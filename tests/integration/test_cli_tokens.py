"""``cti token create|list|revoke`` against the real PostgreSQL, and the CLI when the
database refuses us (no such database, no such role).

A user's role and seat are the user's, shared by all of their tokens (``api_tokens`` has
neither): a new token asking for another role or seat used to change the user, so every
token of theirs, without a word (an agent's desk token became an admin token).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti import cli
from cti.db import repositories
from cti.stack.postgres import PostgresCluster

pytestmark = pytest.mark.integration

Run = Callable[[Sequence[str]], "asyncio.Future[tuple[int, str, str]]"]


@pytest.fixture
def run(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    db_sessionmaker: async_sessionmaker[AsyncSession],  # empties the tables first
) -> Callable[..., object]:
    monkeypatch.setenv("CTI_DATABASE__URL", pg_url)

    async def run_(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        # main() runs its own event loop (asyncio.run), so it runs in a worker thread here
        try:
            code = await asyncio.to_thread(cli.main, list(argv))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    return run_


async def who(maker: async_sessionmaker[AsyncSession], token: str
              ) -> tuple[str, str, str | None] | None:
    async with maker() as session:
        p = await repositories.authenticate(session, token)
    return None if p is None else (p.username, p.role, p.seat_id)


async def test_a_new_token_never_changes_what_the_users_other_tokens_may_do(
    run: Callable[..., object], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    code, desk, _ = await run("token", "create", "--user", "carol", "--role", "agent",
                              "--seat", "1001", "--name", "desk")
    assert code == 0
    desk = desk.strip()

    # another role, no seat, another seat, no seat given: each refused, naming the user
    # and what they are now; the desk token is untouched
    for extra in (["--role", "admin"], ["--role", "agent"],
                  ["--role", "agent", "--seat", "1002"]):
        code, out, err = await run("token", "create", "--user", "carol", "--name", "second",
                                   *extra)
        assert code == 1 and out == "", (extra, out, err)
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert "carol" in err and "agent" in err and "seat 1001" in err, err
        assert "--change-role" in err, err
        assert await who(db_sessionmaker, desk) == ("carol", "agent", "1001")
    async with db_sessionmaker() as session:
        assert [t.name for t in await repositories.list_tokens(session, "carol")] == ["desk"]

    # the same role and seat: a second token, the first unchanged
    code, laptop, err = await run("token", "create", "--user", "carol", "--role", "agent",
                                  "--seat", "1001", "--name", "laptop")
    assert code == 0, err
    assert await who(db_sessionmaker, laptop.strip()) == ("carol", "agent", "1001")
    assert await who(db_sessionmaker, desk) == ("carol", "agent", "1001")


async def test_change_role_changes_the_user_and_says_all_their_tokens_change(
    run: Callable[..., object], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, desk, _ = await run("token", "create", "--user", "carol", "--role", "agent",
                           "--seat", "1001", "--name", "desk")
    code, admin, err = await run("token", "create", "--user", "carol", "--role", "admin",
                                 "--name", "ops", "--change-role")
    assert code == 0, err
    assert "all" in err and "carol" in err and "agent" in err and "admin" in err, err
    assert "1 other" in err, err  # the desk token
    assert await who(db_sessionmaker, admin.strip()) == ("carol", "admin", None)
    assert await who(db_sessionmaker, desk.strip()) == ("carol", "admin", None)


async def test_the_stacks_admin_is_not_demoted_by_an_agent_token_for_the_same_name(
    run: Callable[..., object], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    _, stack, _ = await run("token", "create", "--user", "admin", "--role", "admin",
                            "--name", "stack")
    code, _, err = await run("token", "create", "--user", "admin", "--role", "agent",
                             "--seat", "1001")
    assert code == 1 and "admin" in err, err
    assert await who(db_sessionmaker, stack.strip()) == ("admin", "admin", None)


async def test_tokens_are_listed_without_their_secrets_and_revoked_by_id_or_user(
    run: Callable[..., object], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    tokens = {}
    for user, role, seat, name in (("ann", "agent", "1001", "desk"),
                                   ("ann", "agent", "1001", "phone app"),
                                   ("sue", "supervisor", None, "wallboard")):
        argv = ["token", "create", "--user", user, "--role", role, "--name", name]
        code, out, err = await run(*argv, *(["--seat", seat] if seat else []))
        assert code == 0, err
        tokens[name] = out.strip()
    await who(db_sessionmaker, tokens["desk"])  # used once: a last-used time

    code, out, err = await run("token", "list")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["ID", "USER", "ROLE", "SEAT", "LABEL", "PREFIX", "CREATED",
                                "LAST-USED", "REVOKED"], out
    assert len(lines) == 4, out
    for secret in tokens.values():
        assert secret not in out and secret[12:] not in out
    desk = next(line for line in lines if "desk" in line)
    assert desk.split()[1:4] == ["ann", "agent", "1001"], desk
    assert desk.split()[5] == tokens["desk"][:12]
    assert "phone app" in out
    wallboard = next(line for line in lines if "wallboard" in line)
    assert wallboard.split()[1:4] == ["sue", "supervisor", "-"], wallboard
    desk_id = desk.split()[0]

    code, out, _ = await run("token", "list", "--user", "sue")
    assert code == 0 and len(out.strip().splitlines()) == 2 and "ann" not in out

    code, out, err = await run("token", "revoke", desk_id)
    assert code == 0, err
    assert "revoked" in err and desk_id in err and "30 s" in err, err
    assert await who(db_sessionmaker, tokens["desk"]) is None
    assert await who(db_sessionmaker, tokens["phone app"]) == ("ann", "agent", "1001")
    code, out, _ = await run("token", "list", "--user", "ann")
    revoked = next(line for line in out.splitlines() if "desk" in line)
    assert revoked.split()[-1] != "-", out
    code, _, err = await run("token", "revoke", desk_id)  # again: nothing left to do
    assert code == 0 and "already" in err, err

    code, _, err = await run("token", "revoke", "99999")
    assert code == 1 and "99999" in err and "Traceback" not in err, err

    code, _, err = await run("token", "revoke", "--user", "ann")
    assert code == 0 and "1 token" in err, err
    assert await who(db_sessionmaker, tokens["phone app"]) is None
    assert await who(db_sessionmaker, tokens["wallboard"]) is not None
    code, _, err = await run("token", "revoke", "--user", "nobody")
    assert code == 1 and "nobody" in err, err


@pytest.mark.parametrize("argv", [["token", "create", "--user", "x", "--role", "agent"],
                                  ["token", "list"], ["token", "revoke", "1"], ["migrate"],
                                  ["recordings", "sweep", "--dry-run"]])
@pytest.mark.parametrize(("database", "user", "said"),
                         [("nosuchdb", None, 'database "nosuchdb" does not exist'),
                          ("cti", "nobody", 'role "nobody" does not exist')])
async def test_a_database_that_refuses_us_is_a_message_not_a_traceback(
    argv: list[str], database: str, user: str | None, said: str,
    pg_cluster: PostgresCluster, pg_url: str, run: Callable[..., object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CTI_DATABASE__URL", pg_cluster.url_for(database, user=user))
    code, _, err = await run(*argv)
    assert code == 1, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("cti: ")]
    assert len(lines) == 1 and said in lines[0], err


@pytest.mark.parametrize("argv", [["token", "create", "--user", "x", "--role", "agent"],
                                  ["token", "list"], ["token", "revoke", "--user", "x"]])
async def test_a_database_never_migrated_is_named_as_such(
    argv: list[str], pg_cluster: PostgresCluster, pg_url: str, run: Callable[..., object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not pg_cluster.psql("SELECT 1 FROM pg_database WHERE datname = 'cti_empty'",
                           database="cti"):
        pg_cluster.psql("CREATE DATABASE cti_empty OWNER cti")
    monkeypatch.setenv("CTI_DATABASE__URL", pg_cluster.url_for("cti_empty"))
    code, _, err = await run(*argv)
    assert code == 1 and "Traceback" not in err, err
    assert err.startswith("cti: error: relation ") and "cti migrate" in err, err
