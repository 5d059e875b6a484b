"""The ``cti`` command line.

    cti serve [--host H] [--port P]     run the service (uvicorn, ``cti.runtime:build_app``)
    cti migrate                         migrate PostgreSQL to the latest schema
    cti token create --user NAME --role agent|supervisor|admin [--seat 1001] [--name LABEL]
                     [--change-role]    create an API token and print it (shown only once)
    cti token list [--user NAME]        tokens, revoked ones too (never their secrets)
    cti token revoke ID | --user NAME   revoke a token, or every token of a user
    cti backup --target DIR [--keep N] [--allow-empty]
                                        a new dated generation in DIR: the database, the
                                        recordings, voicemail, hold music and prompts
                                        (files unchanged since the last one are shared)
    cti restore --from DIR [--generation NAME] [--clean]
                                        verify a generation (default: the newest) and
                                        restore the database and the files
    cti recordings sweep [--dry-run]    delete recordings past their retention (JSON report)

Settings come from the environment (``CTI_*``, see :mod:`cti.config`). Bad arguments and
bad settings (a ``CTI_DATABASE__URL`` that cannot work included) exit with status 2 and one
line naming the argument or the variable; failures while working (the database down or
refusing us) exit with 1 and one line. A traceback means a bug; with ``CTI_LOG_LEVEL=DEBUG``
the handled failures log theirs too.

Tokens: a user has one role and at most one seat, and every token of theirs acts with
them. ``token create`` for an existing user with another role or seat is refused, naming
what the user is; ``--change-role`` changes the user, so all their tokens. The running
service sees such a change, and a revocation, once its token cache entry expires (at most
30 s; at once for ``DELETE /v1/tokens/{id}``); open event streams at their next token check.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.exc import DBAPIError

from cti.cli_problems import database_problem, database_url_problem, settings_problem
from cti.config import Settings
from cti.db.engine import DATABASE_DOWN

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from cti.db.repositories import TokenRecord, UserMismatch

logger = logging.getLogger(__name__)

ROLES = ("agent", "supervisor", "admin")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_SEAT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_LABEL = re.compile(r"^[\w .@:-]{1,64}$")
_MAX_TOKEN_ID = 2**31 - 1  # a PostgreSQL integer
#: How long the running service may go on admitting a token as it was, after a change
#: made here, in another process: its token cache's TTL (``cti.api.app.TOKEN_CACHE_TTL``,
#: not imported: it would load the whole API).
SERVICE_TOKEN_CACHE_SECONDS = 30
_SERVICE_SEES_IT = (f"the running service applies it within {SERVICE_TOKEN_CACHE_SECONDS} s "
                    "(its token cache), open event streams at their next token check")


class CliError(Exception):
    """A failure while carrying out a valid command: printed, exit status 1."""


#: Commands that reach PostgreSQL through libpq's programs (pg_dump, pg_restore), which
#: take any ``postgresql`` URL; the others use SQLAlchemy with asyncpg.
_LIBPQ_COMMANDS = frozenset({"backup", "restore"})


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise argparse.ArgumentTypeError(f"{value!r} is not a valid {what}")
        return value

    return check


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number (1-65535)")
    return port


def _token_id(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= _MAX_TOKEN_ID:
        raise argparse.ArgumentTypeError(f"{value!r} is not a token id (cti token list)")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cti", description="CTI service for call centres")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--host", help="listen address (default: CTI_API__HOST)")
    serve.add_argument("--port", type=_port, help="listen port (default: CTI_API__PORT)")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="migrate the database to the latest schema")
    migrate.set_defaults(run=_migrate)

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser(
        "create", help="create a token for a user (created if missing) and print it once"
    )
    create.add_argument("--user", required=True, type=_matching(_USERNAME, "user name"))
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--seat", type=_matching(_SEAT_ID, "seat id"), help="bind to a seat")
    create.add_argument(
        "--name", default="cli", type=_matching(_LABEL, "token label"), help="a label"
    )
    create.add_argument(
        "--change-role", action="store_true",
        help="the user exists with another role or seat: change the user, and so what "
             "every token of theirs may do (refused otherwise)")
    create.set_defaults(run=_token_create)
    listing = token_commands.add_parser(
        "list", help="list tokens (revoked ones too), never their secrets")
    listing.add_argument("--user", type=_matching(_USERNAME, "user name"),
                         help="only this user's")
    listing.set_defaults(run=_token_list)
    revoke = token_commands.add_parser("revoke", help="revoke a token, or all of a user's")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("token_id", nargs="?", type=_token_id, metavar="ID",
                       help="the token's id (cti token list)")
    which.add_argument("--user", type=_matching(_USERNAME, "user name"),
                       help="every active token of this user")
    revoke.set_defaults(run=_token_revoke)

    backup = commands.add_parser(
        "backup", help="a new backup generation: the database and the Asterisk files"
    )
    backup.add_argument("--target", required=True, type=_backup_dir,
                        help="backup directory (as CTI_BACKUP__TARGET for the schedule)")
    backup.add_argument("--keep", type=_keep,
                        help="generations to keep (default: CTI_BACKUP__KEEP, 7)")
    backup.add_argument("--allow-empty", action="store_true",
                        help="back up a directory found empty although the last "
                             "generation has its files (they were really all deleted)")
    backup.set_defaults(run=_backup)
    restore = commands.add_parser("restore", help="restore a backup made by `cti backup`")
    restore.add_argument("--from", dest="source", required=True, type=_backup_dir,
                         help="backup directory")
    restore.add_argument("--generation", type=_generation,
                         help="the generation to restore (default: the newest complete)")
    restore.add_argument("--clean", action="store_true",
                         help="replace the contents of a database that is not empty")
    restore.set_defaults(run=_restore)
    recordings = commands.add_parser("recordings", help="recordings maintenance")
    rec_commands = recordings.add_subparsers(dest="recordings_command", required=True,
                                             metavar="ACTION")
    sweep = rec_commands.add_parser(
        "sweep", help="delete recordings past their retention, report files with no row")
    sweep.add_argument("--dry-run", action="store_true",
                       help="report what would go, change nothing")
    sweep.set_defaults(run=_recordings_sweep)
    return parser


GRACEFUL_SHUTDOWN_SECONDS = 10


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    import uvicorn
    from fastapi import FastAPI

    from cti.runtime import build_app

    built: list[FastAPI] = []

    def factory() -> FastAPI:  # built by uvicorn, after it has set up logging
        built.append(build_app(settings, stop=stop))
        return built[-1]

    def stop() -> None:  # a graceful shutdown, as on SIGTERM, without the signal
        server.should_exit = True

    server = uvicorn.Server(uvicorn.Config(
        factory,
        factory=True,
        host=args.host or settings.api.host,
        port=args.port or settings.api.port,
        log_level=settings.log_level.lower(),
        access_log=settings.api.access_log,
        # A stop (or a deposed leader's) does not wait for ever on a long download.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    ))
    server.run()
    code = built[-1].state.exit_code if built else 0
    if code:  # another replica leads (cti.runtime.EXIT_DEPOSED)
        sys.exit(code)


def _migrate(args: argparse.Namespace, settings: Settings) -> None:
    from cti.db.migrate import upgrade

    try:
        upgrade(settings.database.url)
    except DATABASE_DOWN as exc:  # FileNotFoundError (no migrations) is an OSError too
        raise CliError(f"migration failed: {exc}") from exc
    print("database migrated to the latest schema", file=sys.stderr)


def _token_create(args: argparse.Namespace, settings: Settings) -> None:
    from cti.db.repositories import standing

    token, before = asyncio.run(_create_token(settings, args))
    if before is not None:  # --change-role changed the user
        was, others = before
        print(f"{args.user} was {was}, and is now {standing(args.role, args.seat)}: so are "
              f"all their tokens ({others} other active); {_SERVICE_SEES_IT}",
              file=sys.stderr)
    print(f"token {args.name!r} for {args.user} ({standing(args.role, args.seat)}); it is "
          "shown only this once:", file=sys.stderr)
    print(token)


async def _create_token(settings: Settings, args: argparse.Namespace
                        ) -> tuple[str, tuple[str, int] | None]:
    """The new token; and, if the user changed, what they were and how many other active
    tokens they have."""
    from cti.db import repositories
    from cti.db.repositories import UserMismatch, standing

    async with _database(settings) as sessions, sessions() as session:
        try:  # create_token commits; a mismatch writes nothing
            return await repositories.create_token(
                session, args.user, args.role, args.name, args.seat), None
        except UserMismatch as mismatch:
            if not args.change_role:
                raise CliError(_refused_token(mismatch)) from mismatch
            before = (standing(mismatch.user.role, mismatch.user.seat_id),
                      mismatch.active_tokens)
        token = await repositories.create_token(
            session, args.user, args.role, args.name, args.seat, change_user=True)
    return token, before


def _refused_token(m: UserMismatch) -> str:
    from cti.db.repositories import standing

    user = m.user
    same = f"--role {user.role}" + (f" --seat {user.seat_id}" if user.seat_id else "")
    return (f"user {user.username} is {standing(user.role, user.seat_id)} "
            f"({m.active_tokens} active tokens), not {standing(m.role, m.seat_id)}, and all "
            f"of a user's tokens share the user's role and seat: for another token give "
            f"{same}; --change-role changes {user.username} and every token of theirs")


def _token_list(args: argparse.Namespace, settings: Settings) -> None:
    tokens = asyncio.run(_list_tokens(settings, args.user))
    if not tokens and args.user is not None:
        print(f"{args.user} has no tokens", file=sys.stderr)
    print(_token_table(tokens), end="")


async def _list_tokens(settings: Settings, user: str | None) -> list[TokenRecord]:
    from cti.db import repositories

    async with _database(settings) as sessions, sessions() as session:
        return await repositories.list_tokens(session, user)


def _token_table(tokens: Sequence[TokenRecord]) -> str:
    """Aligned columns; "-" for nothing (no seat, never used, not revoked)."""
    def when(at: datetime | None) -> str:
        return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")

    rows = [("ID", "USER", "ROLE", "SEAT", "LABEL", "PREFIX", "CREATED", "LAST-USED",
             "REVOKED")]
    rows += [(str(t.id), t.username, t.role, t.seat_id or "-", t.name, t.prefix,
              when(t.created_at), when(t.last_used_at), when(t.revoked_at)) for t in tokens]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                   + "\n" for r in rows)


def _token_revoke(args: argparse.Namespace, settings: Settings) -> None:
    print(asyncio.run(_revoke_tokens(settings, args.token_id, args.user)), file=sys.stderr)


async def _revoke_tokens(settings: Settings, token_id: int | None, user: str | None) -> str:
    """What was done, in words; CliError for a token or user that does not exist."""
    from cti.db import repositories

    async with _database(settings) as sessions, sessions() as session:
        if user is not None:
            revoked = await repositories.revoke_user_tokens(session, user)
            if revoked is None:
                raise CliError(f"no user {user!r} (cti token list)")
            if not revoked:
                return f"{user} has no active token: nothing to revoke"
            return (f"revoked {len(revoked)} token{'s' if len(revoked) > 1 else ''} of "
                    f"{user} (ids {', '.join(map(str, revoked))}); {_SERVICE_SEES_IT}")
        assert token_id is not None
        if await repositories.revoke_token(session, token_id=token_id):
            return f"revoked token {token_id}; {_SERVICE_SEES_IT}"
        found = await repositories.get_token(session, token_id)
        if found is None:
            raise CliError(f"no token {token_id} (cti token list)")
        assert found.revoked_at is not None
        return f"token {token_id} was revoked already, at {found.revoked_at:%Y-%m-%d %H:%M %Z}"


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the database for one command, its engine disposed of after; the
    database out of reach is a :class:`CliError` (refusing us: see :func:`main`)."""
    from cti.db.engine import make_engine, make_sessionmaker

    engine = make_engine(settings.database, pool_size=1, max_overflow=0)
    try:
        yield make_sessionmaker(engine)
    except DATABASE_DOWN as exc:
        raise CliError(f"cannot reach the database: {exc}") from exc
    finally:
        await engine.dispose()


def _backup_dir(value: str) -> Path:
    if not value.strip():  # Path("") is the working directory
        raise argparse.ArgumentTypeError("an empty path is not a backup directory")
    return Path(value)


def _keep(value: str) -> int:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 1000:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of generations (1-1000)")
    return int(value)


def _generation(value: str) -> str:
    from cti.backup.generations import is_name

    if not is_name(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a generation name (like 2026-11-25T020000Z)")
    return value


def _backup(args: argparse.Namespace, settings: Settings) -> None:
    from cti.backup.errors import BackupError
    from cti.backup.run import backup
    from cti.backup.sources import sources

    taken = sources(settings.asterisk, recordings=settings.recordings.enabled)
    keep = args.keep or settings.backup.keep
    try:
        r = backup(settings.database.url, taken, args.target, keep=keep,
                   settle_seconds=settings.backup.settle_seconds, allow_empty=args.allow_empty)
    except (BackupError, OSError) as exc:
        raise CliError(f"backup failed: {exc}") from exc
    pruned = f"{len(r.pruned)} old generation{'' if len(r.pruned) == 1 else 's'} removed"
    print(f"backup {r.generation} in {args.target}: {r.copied} files copied, {r.linked} "
          f"unchanged, {r.dropped} dropped, {r.deferred} left for the next run (still being "
          f"written); {pruned}", file=sys.stderr)


def _restore(args: argparse.Namespace, settings: Settings) -> None:
    from cti.backup.errors import BackupError
    from cti.backup.run import restore
    from cti.backup.sources import destinations

    try:
        report = restore(settings.database.url, destinations(settings.asterisk), args.source,
                         generation=args.generation, clean=args.clean)
    except (BackupError, OSError) as exc:
        raise CliError(f"restore failed: {exc}") from exc
    print(f"restored {report.generation}: database and {report.files} files",
          file=sys.stderr)


def _recordings_sweep(args: argparse.Namespace, settings: Settings) -> None:
    import json

    report = asyncio.run(_sweep(settings, args.dry_run))
    print(json.dumps(report, indent=2, sort_keys=True))


async def _sweep(settings: Settings, dry_run: bool) -> dict[str, object]:
    from cti.db.engine import make_engine, make_sessionmaker
    from cti.telephony.files import AsteriskFiles
    from recordings.storage import RecordingDirs
    from recordings.sweep import Sweeper

    rec = settings.recordings
    engine = make_engine(settings.database, pool_size=2, max_overflow=0)
    try:
        sweeper = Sweeper(make_sessionmaker(engine),
                          RecordingDirs.from_files(AsteriskFiles(settings.asterisk)),
                          default_days=rec.default_retention_days,
                          batch_size=rec.sweep_batch_size)
        report = await sweeper.run(trigger="cli", dry_run=dry_run)
    except DATABASE_DOWN as exc:
        raise CliError(f"cannot reach the database: {exc}") from exc
    finally:
        await engine.dispose()
    if report.skipped:
        raise CliError("another recording sweep is running; try again later")
    return report.as_dict()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        if os.environ.get("CTI_LOG_LEVEL", "").upper() == "DEBUG":
            traceback.print_exc()
        parser.exit(2, f"cti: error: invalid settings from the environment: "
                       f"{settings_problem(exc)}\n")
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        parser.exit(2, f"cti: error: CTI_LOG_LEVEL: unknown level {settings.log_level!r}\n")
    url = database_url_problem(settings.database.url,
                               asyncpg=args.command not in _LIBPQ_COMMANDS)
    if url is not None:
        parser.exit(2, f"cti: error: CTI_DATABASE__URL: {url}\n")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        args.run(args, settings)
    except CliError as exc:
        return _failed(str(exc), exc)
    except DBAPIError as exc:
        problem = database_problem(exc)
        if problem is None:  # our query is wrong: a bug, with its traceback
            raise
        return _failed(problem, exc)
    return 0


def _failed(message: str, exc: BaseException) -> int:
    logger.debug("the command failed", exc_info=exc)  # CTI_LOG_LEVEL=DEBUG
    print(f"cti: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
