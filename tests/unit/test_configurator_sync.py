"""InboundConfigurator.sync() against a change() made while it runs, without a database:
the repository calls are replaced by a dict and the files are real, in a temporary
directory (Asterisk unreachable, so reloads are deferred)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cti.config import AsteriskFilesSettings
from cti.telephony import configurator as configurator_module
from cti.telephony.configurator import InboundConfigurator
from cti.telephony.files import AsteriskFiles
from cti.telephony.inbound import GroupSettings, InboundConfig


class FakeSession:
    """Just enough of AsyncSession for the configurator's ``async with`` blocks."""

    async def __aenter__(self) -> FakeSession:
        return self

    async def __aexit__(self, *exc: object) -> bool:
        return False

    def begin(self) -> FakeSession:
        return self

    async def flush(self) -> None:
        pass

    async def commit(self) -> None:
        pass


class FakeDatabase:
    """The stored skill groups; the first load waits until the test lets it finish."""

    def __init__(self, *groups: GroupSettings) -> None:
        self.groups = {g.name: g for g in groups}
        self.loading = asyncio.Event()
        self.release = asyncio.Event()
        self.loads = 0

    async def load_config(self, session: Any, fallback: str) -> InboundConfig:
        self.loads += 1
        if self.loads == 1:
            self.loading.set()
            await self.release.wait()
        return InboundConfig(groups=dict(self.groups), fallback_group=fallback)


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> FakeDatabase:
    db = FakeDatabase(GroupSettings("sales", ring_seconds=15))
    repo = configurator_module.repo

    async def nothing(*args: object) -> None:
        return None

    async def no_new_reasons(session: Any, reasons: object) -> int:
        return 0

    monkeypatch.setattr(repo, "load_config", db.load_config)
    monkeypatch.setattr(repo, "lock_config", nothing)
    monkeypatch.setattr(repo, "ensure_pause_reasons", no_new_reasons)
    return db


def configurator(root: Path) -> tuple[InboundConfigurator, AsteriskFiles]:
    files = AsteriskFiles(AsteriskFilesSettings(root=str(root)))
    files.generated_dir.mkdir(parents=True)
    made = InboundConfigurator(lambda: FakeSession(), files,  # type: ignore[arg-type]
                               lambda: {}, fallback_group="sales", voicemail_pin="4242",
                               music_classes=lambda: ["default"])
    return made, files


def queue_timeouts(files: AsteriskFiles) -> list[str]:
    text = files.read_generated("queues.conf") or ""
    return [line for line in text.splitlines() if line.startswith("timeout")]


async def test_a_change_made_while_sync_loads_is_what_asterisk_ends_with(
    db: FakeDatabase, tmp_path: Path
) -> None:
    # given a reconnect's sync() loading the configuration (ring 15 s)
    made, files = configurator(tmp_path)
    sync = asyncio.create_task(made.sync())
    await asyncio.wait_for(db.loading.wait(), 5)

    # when a supervisor changes the ring time to 30 s meanwhile
    async def patch(session: object) -> None:
        db.groups["sales"] = GroupSettings("sales", ring_seconds=30)

    change = asyncio.create_task(made.change(patch))
    await asyncio.sleep(0)  # the change now waits for the configurator's lock
    db.release.set()
    await asyncio.wait_for(asyncio.gather(sync, change), 5)

    # then Asterisk's files and the live side have the database's latest, not sync's load
    assert queue_timeouts(files) == ["timeout = 30"]
    assert made.current is not None
    assert made.current.groups["sales"].ring_seconds == 30


async def test_a_box_no_group_uses_any_more_stays_configured_while_it_holds_messages(
    db: FakeDatabase, tmp_path: Path
) -> None:
    """A group's box was changed ("helpdesk" -> the group's own) with a message in it:
    app_voicemail then knew no "helpdesk", and marking the message heard or deleting it
    failed (502) although the service listed it."""
    made, files = configurator(tmp_path)
    spool = files.voicemail_dir("groups")
    (spool / "helpdesk" / "Old").mkdir(parents=True)
    (spool / "helpdesk" / "Old" / "msg0000.txt").write_text("[message]\n")
    (spool / "emptied" / "INBOX").mkdir(parents=True)  # its last message was deleted
    db.release.set()
    db.loading.set()
    db.loads = 1  # no wait in load_config

    await asyncio.wait_for(made.sync(), 5)

    boxes = (files.read_generated("voicemail.conf") or "").splitlines()
    assert "sales => 4242,sales" in boxes
    assert "helpdesk => 4242,Messages kept" in boxes
    assert not [b for b in boxes if b.startswith("emptied")]
