"""Apply inbound configuration changes: PostgreSQL -> generated files -> Asterisk reload.

One change is one transaction: the change is made, the whole resulting configuration is
checked (:func:`cti.telephony.inbound.problems`), rendered, written and reloaded into
Asterisk, and only then committed. If any step fails the transaction rolls back and the
previous files are put back, so PostgreSQL and Asterisk never disagree and nothing is
half applied. Reloads (QueueReload with ``Members: no``, dialplan and voicemail module
reloads) keep callers waiting and calls in progress.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami.actions import queue_reload, reload_module
from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiError
from cti.db import inbound_repository as repo
from cti.telephony import dialplan
from cti.telephony.defaults import DEFAULT_PAUSE_REASONS
from cti.telephony.files import AsteriskFiles
from cti.telephony.inbound import InboundConfig, Problem, problems
from cti.telephony.voicemail import boxes_holding_messages

log = logging.getLogger(__name__)

T = TypeVar("T")

# Which reload makes Asterisk read which generated file.
_RELOADS: dict[str, str] = {
    "queues.conf": "queues",
    "queuerules.conf": "queues",
    "extensions.conf": "pbx_config.so",
    "voicemail.conf": "app_voicemail.so",
}


class ConfigRejected(Exception):
    """The configuration a change would produce is not valid."""

    def __init__(self, found: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.where}: {p.message}" for p in found))
        self.problems = found


class ApplyFailed(Exception):
    """Asterisk did not take the new configuration; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Applied:
    config: InboundConfig
    changed_files: tuple[str, ...]


class InboundConfigurator:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        files: AsteriskFiles,
        connections: Callable[[], Mapping[str, AmiConnection]],
        *,
        fallback_group: str,
        voicemail_pin: str,
        music_classes: Callable[[], Iterable[str]] | None = None,
        on_applied: Callable[[InboundConfig], None] | None = None,
        seed: InboundConfig | None = None,
        node: str = "node1",
    ) -> None:
        self._seed = seed
        self._node = node
        self._sessionmaker = sessionmaker
        self._files = files
        self._connections = connections
        self._fallback = fallback_group
        self._pin = voicemail_pin
        self._music_classes = music_classes or (lambda: available_music_classes(files))
        self._on_applied = on_applied
        self._lock = asyncio.Lock()
        self._unreloaded: set[str] = set()  # written while Asterisk was unreachable
        self.current: InboundConfig | None = None

    async def change(self, mutate: Callable[[AsyncSession], Awaitable[T]], *,
                     changed: str | None = None) -> T:
        """Run ``mutate`` and apply the result, all or nothing (see the module doc).
        ``changed`` (``groups.<name>``, ``menus.<name>``) is what the request changes: a
        clash with another group is reported on its field (see :func:`problems`)."""
        async with self._lock, self._sessionmaker() as session, session.begin():
            await repo.lock_config(session)
            result = await mutate(session)
            await session.flush()
            config = await repo.load_config(session, self._fallback)
            found = problems(config, self._music_classes(), changed=changed)
            if found:
                raise ConfigRejected(found)
            previous = await self._apply(config)
            try:
                await session.commit()
            except BaseException:
                await self._restore(previous)
                raise
        self._applied(config)
        return result

    async def preload(self) -> None:
        """Tell the live side each stored group's timings (wrap-up, ring) before
        Asterisk's first snapshot is rebuilt, without applying anything to Asterisk
        (``sync`` does, once connected). A process started mid-shift then knows which
        seats app_queue still holds in wrap-up after their last call; learning it only
        after the rebuild, it showed them available and the dialer placed calls for them
        that nobody could take."""
        async with self._sessionmaker() as session:
            config = await repo.load_config(session, self._fallback)
        if config.groups and self._on_applied is not None:
            self._on_applied(config)

    async def sync(self) -> Applied:
        """Make Asterisk's files say what PostgreSQL says (at start, after a reconnect).

        A database without skill groups (a fresh installation) gets the seed first."""
        async with self._lock:
            await self._seed_defaults()
            # Load and apply in one section under both locks, as change() does: a change
            # waiting for them then applies after this, instead of this overwriting it in
            # Asterisk with what it loaded before the change.
            async with self._sessionmaker() as session, session.begin():
                await repo.lock_config(session)
                config = await repo.load_config(session, self._fallback)
                found = problems(config, None)
                if found:  # stored before a rule got stricter: Asterisk keeps its last good files
                    log.error("stored inbound configuration is not valid, not applied: %s",
                              ConfigRejected(found))
                    return Applied(config, ())
                previous = await self._apply(config, force_reload=bool(self._unreloaded))
            self._applied(config)
        return Applied(config, tuple(name for name in previous if previous[name] is not None))

    async def _seed_defaults(self) -> None:
        """Seed a fresh installation's skill groups, and the pause reason the no-answer
        auto-pause needs. Committed on its own: Asterisk refusing the files must not undo
        it."""
        async with self._sessionmaker() as session, session.begin():
            await repo.lock_config(session)
            if self._seed is not None:
                stored = await repo.load_config(session, self._fallback)
                if not stored.groups:
                    for group in self._seed.groups.values():
                        await repo.insert_group(session, group, self._node)
                    log.info("seeded the default skill groups: %s", sorted(self._seed.groups))
            # the no-answer auto-pause needs its reason, whatever was done to the table
            if await repo.ensure_pause_reasons(session, DEFAULT_PAUSE_REASONS):
                log.info("seeded the default pause reasons")

    def _applied(self, config: InboundConfig) -> None:
        self.current = config
        if self._on_applied is not None:
            self._on_applied(config)

    def render(self, config: InboundConfig) -> dict[str, str]:
        # Read at each apply: a box a group stops using keeps its messages manageable.
        held = boxes_holding_messages(self._files.voicemail_dir(dialplan.VOICEMAIL_CONTEXT))
        return dialplan.render(config, voicemail_pin=self._pin,
                               sounds_dir=str(self._files.sounds_dir),
                               boxes_with_messages=held)

    async def _apply(self, config: InboundConfig, *, force_reload: bool = False
                     ) -> dict[str, str | None]:
        """Write what changed and reload it; return the replaced files' old text (None:
        unchanged). On failure the old files are back before this raises."""
        rendered = self.render(config)
        previous: dict[str, str | None] = {}
        try:
            for name, text in rendered.items():
                old = self._files.read_generated(name)
                if self._files.write_generated(name, text):
                    previous[name] = old if old is not None else ""
                else:
                    previous[name] = None
            changed = {n for n, old in previous.items() if old is not None}
            if force_reload:
                changed |= self._unreloaded | set(rendered)
            await self._reload(changed)
        except BaseException:
            await self._restore(previous)
            raise
        if changed:
            log.info("inbound configuration applied: %s", ", ".join(sorted(changed)))
        return previous

    async def _restore(self, previous: Mapping[str, str | None]) -> None:
        changed = {name for name, old in previous.items() if old is not None}
        for name in changed:
            old = previous[name]
            assert old is not None
            self._files.write_generated(name, old)
        if changed:
            log.warning("inbound configuration change undone: %s", ", ".join(sorted(changed)))
            try:
                await self._reload(changed)
            except ApplyFailed:
                log.exception("could not reload the restored configuration")

    async def _reload(self, changed: set[str]) -> None:
        targets = sorted({_RELOADS[name] for name in changed if name in _RELOADS})
        if not targets:
            return
        connections = [c for c in self._connections().values() if c.logged_in]
        if not connections:
            # The files are in place; Asterisk reads them when it starts, and sync()
            # reloads them when the connection comes back.
            self._unreloaded |= changed
            log.warning("Asterisk unreachable: %s written, reload deferred", sorted(changed))
            return
        for conn in connections:
            for target in targets:
                try:
                    if target == "queues":
                        await queue_reload(conn)
                    else:
                        await reload_module(conn, target)
                except AmiError as exc:
                    raise ApplyFailed(f"{conn.name}: reloading {target} failed: {exc}") from exc
        self._unreloaded -= changed


def available_music_classes(files: AsteriskFiles) -> list[str]:
    """``default`` plus every class directory uploaded under the hold-music root."""
    root = files.host(files.moh_dir)
    found = ["default"]
    if root.is_dir():
        found += sorted(p.name for p in root.iterdir() if p.is_dir() and _has_audio(p))
    return found


def _has_audio(directory: Path) -> bool:
    return any(p.suffix == ".wav" for p in directory.iterdir())
