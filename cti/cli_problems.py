"""What is wrong, in one line for the ``cti`` command: settings from the environment that
do not validate, a database URL that cannot work, a database that refuses us or was never
migrated.

Each function returns the words (``None``: nothing wrong, or not a problem it knows, which
then stays an error with its traceback). Values are never echoed: the one at fault may sit
next to a secret (``CTI_AMI__NODES``) or be one.
"""

from __future__ import annotations

import json
import os
import re

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from cti.config import Settings

ENV_PREFIX = "CTI_"
DATABASE_URL_FORM = "postgresql+asyncpg://USER[:PASSWORD]@HOST[:PORT]/DATABASE"

#: SQLSTATEs of PostgreSQL refusing the connection itself, not a query: class 08
#: (connection exception), class 28 (no such role, a wrong password), 3D000 (no such
#: database), 57P03 (starting up, shutting down).
_REFUSAL_CLASSES = frozenset({"08", "28"})
_REFUSAL_STATES = frozenset({"3D000", "57P03"})
_UNDEFINED_TABLE = "42P01"  # a database no one has migrated


def settings_problem(exc: ValidationError | SettingsError) -> str:
    """``CTI_API__PORT: Input should be a valid integer...``, each error of ``exc`` named by
    the environment variable it comes from, ``; ``-separated."""
    if isinstance(exc, SettingsError):
        return _unparsed(exc)
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        name, inside = _variable(error["loc"])
        where = f"{name} ({inside})" if inside else name
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(problems)


def _variable(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """The variable a validation error's location comes from, and the place inside its
    value (``CTI_AMI__NODES``, ``0.name``): a section's field has a variable of its own."""
    if not loc or not isinstance(loc[0], str):
        return "", ".".join(map(str, loc))
    field = Settings.model_fields.get(loc[0])
    section = field is not None and isinstance(field.annotation, type) and issubclass(
        field.annotation, BaseModel)
    depth = 2 if section and len(loc) > 1 and isinstance(loc[1], str) else 1
    name = ENV_PREFIX + "__".join(str(part).upper() for part in loc[:depth])
    return name, ".".join(map(str, loc[depth:]))


def _unparsed(exc: SettingsError) -> str:
    """pydantic-settings could not decode a variable's JSON; it names only the field."""
    found = re.search(r'field "([^"]+)"', str(exc))
    if found is None:
        return str(exc)
    prefix = (ENV_PREFIX + found.group(1)).upper()
    names = sorted(name for name, value in os.environ.items()
                   if (name.upper() == prefix or name.upper().startswith(prefix + "__"))
                   and not _is_json(value))
    reason = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
    return f"{', '.join(names) or prefix}: not valid JSON{reason}"


def _is_json(value: str) -> bool:
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


def database_url_problem(url: str, *, asyncpg: bool = True) -> str | None:
    """Why ``url`` cannot reach a PostgreSQL database, if it cannot: not a URL, another
    database or driver (the service's is asyncpg; ``asyncpg=False``: any PostgreSQL
    driver, for libpq's programs), a port out of range, no database named."""
    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):
        return f"not a database URL; the form is {DATABASE_URL_FORM}"
    driver = parsed.drivername
    if driver.split("+", 1)[0] != "postgresql" or (asyncpg and driver != "postgresql+asyncpg"):
        return f"{driver}:// cannot work; the form is {DATABASE_URL_FORM}"
    if port is not None and not 1 <= port <= 65535:
        return f"port {port} is not a port number (1-65535)"
    if not parsed.database:
        return f"names no database; the form is {DATABASE_URL_FORM}"
    return None


def database_problem(exc: DBAPIError) -> str | None:
    """What is wrong with the database we were given, in PostgreSQL's own words: it
    refused the connection (``database "x" does not exist``, ``role "y" does not exist``,
    ``password authentication failed``), or it has not been migrated (``relation "users"
    does not exist``). None for any other error: a query of ours is wrong."""
    state = str(getattr(exc.orig, "sqlstate", None) or "")
    lines = str(exc.orig).strip().splitlines()
    words = lines[0] if lines else f"SQLSTATE {state}"
    if state[:2] in _REFUSAL_CLASSES or state in _REFUSAL_STATES:
        return f"the database refused us (CTI_DATABASE__URL): {words}"
    if state == _UNDEFINED_TABLE:
        return f"{words}: is the database migrated? (cti migrate)"
    return None
