"""The ``cti`` command line.

    cti serve [--host H] [--port P]     run the service (uvicorn, ``cti.runtime:build_app``)
    cti migrate                         migrate PostgreSQL to the latest schema
    cti token create --user NAME --role agent|supervisor|admin [--seat 1001] [--name LABEL]
                                        create an API token and print it (shown only once)
    cti backup --target DIR             dump the database and copy the recordings
                                        (incrementally) into DIR, with a manifest
    cti restore --from DIR [--clean]    verify DIR, restore the database and recordings
    cti recordings sweep [--dry-run]    delete recordings past their retention (JSON report)

Settings come from the environment (``CTI_*``, see :mod:`cti.config`). Bad arguments exit
with status 2 and a message naming the argument; failures while working exit with 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from cti.config import Settings
from cti.db.engine import DATABASE_DOWN

logger = logging.getLogger(__name__)

ROLES = ("agent", "supervisor", "admin")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_SEAT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_LABEL = re.compile(r"^[\w .@:-]{1,64}$")


class CliError(Exception):
    """A failure while carrying out a valid command: printed, exit status 1."""


# The database is unreachable or refuses us: a message, not a traceback.


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
    create.set_defaults(run=_token_create)

    backup = commands.add_parser(
        "backup", help="dump the database and copy the recordings into a directory"
    )
    backup.add_argument("--target", required=True, type=Path, help="backup directory")
    backup.set_defaults(run=_backup)
    restore = commands.add_parser("restore", help="restore a backup made by `cti backup`")
    restore.add_argument("--from", dest="source", required=True, type=Path,
                         help="backup directory")
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
    token = asyncio.run(_create_token(settings, args.user, args.role, args.name, args.seat))
    print(
        f"token {args.name!r} for {args.user} ({args.role}); it is shown only this once:",
        file=sys.stderr,
    )
    print(token)


async def _create_token(
    settings: Settings, user: str, role: str, name: str, seat: str | None
) -> str:
    from cti.db import repositories
    from cti.db.engine import make_engine, make_sessionmaker

    engine = make_engine(settings.database, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:  # create_token commits
            return await repositories.create_token(session, user, role, name, seat_id=seat)
    except DATABASE_DOWN as exc:
        raise CliError(f"cannot reach the database: {exc}") from exc
    finally:
        await engine.dispose()


def _backup(args: argparse.Namespace, settings: Settings) -> None:
    from cti.backup.errors import BackupError
    from cti.backup.run import backup
    from cti.telephony.files import AsteriskFiles

    recordings = AsteriskFiles(settings.asterisk).recordings_dir
    try:
        report = backup(settings.database.url, recordings, args.target)
    except (BackupError, OSError) as exc:
        raise CliError(f"backup failed: {exc}") from exc
    print(
        f"backup in {args.target}: {report.copied} recordings copied, {report.unchanged} "
        f"unchanged, {report.removed} removed",
        file=sys.stderr,
    )


def _restore(args: argparse.Namespace, settings: Settings) -> None:
    from cti.backup.errors import BackupError
    from cti.backup.run import restore
    from cti.telephony.files import AsteriskFiles

    recordings = AsteriskFiles(settings.asterisk).recordings_dir
    try:
        report = restore(settings.database.url, recordings, args.source, clean=args.clean)
    except (BackupError, OSError) as exc:
        raise CliError(f"restore failed: {exc}") from exc
    print(f"restored {args.source}: database and {report.recordings} recordings",
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
    except ValidationError as exc:
        parser.exit(2, f"cti: error: invalid settings from the environment:\n{exc}\n")
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        parser.exit(2, f"cti: error: CTI_LOG_LEVEL: unknown level {settings.log_level!r}\n")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        args.run(args, settings)
    except CliError as exc:
        print(f"cti: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
