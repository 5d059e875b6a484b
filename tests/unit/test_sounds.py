"""Prompts by name: what Playback is given, which exist on the node's disk (through a
chroot's absolute links, as Asterisk sees them), and uploads stored atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cti.config import AsteriskFilesSettings
from cti.telephony.files import AsteriskFiles
from cti.telephony.prompt_wav import check_prompt
from cti.telephony.sounds import SoundLibrary, playback_target
from tests.support.wav import samples_of, tone_wav

SOUNDS = "/srv/asterisk/sounds"
SYSTEM = "/usr/share/asterisk/sounds/en"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An Asterisk root whose sounds/en is an absolute link, as Debian ships it."""
    real = tmp_path / "usr/share/asterisk/sounds/en-real"
    real.mkdir(parents=True)
    (real / "tt-allbusy.gsm").write_bytes(b"gsm")
    os.symlink("/usr/share/asterisk/sounds/en-real", tmp_path / "usr/share/asterisk/sounds/en")
    return tmp_path


@pytest.fixture
def library(root: Path) -> SoundLibrary:
    files = AsteriskFiles(AsteriskFilesSettings(root=str(root), sounds_dir=SOUNDS))
    return SoundLibrary(files, SYSTEM)


@pytest.mark.parametrize(("name", "target"), [
    ("tt-allbusy", "tt-allbusy"),
    ("custom/acme-busy", "custom/acme-busy"),
    ("cti/campaigns/abandon-7", f"{SOUNDS}/campaigns/abandon-7"),
])
def test_uploaded_prompts_are_played_by_absolute_path(name: str, target: str) -> None:
    assert playback_target(name, SOUNDS + "/") == target


def test_asterisks_own_sounds_exist_through_the_chroots_links(library: SoundLibrary) -> None:
    assert library.exists("tt-allbusy")
    assert not library.exists("tt-nobody-here")
    assert not library.exists("../../../etc/passwd")  # not a sound name at all


@pytest.mark.parametrize("rate", [8000, 16000])
def test_an_upload_is_stored_where_asterisk_reads_it(
    library: SoundLibrary, root: Path, rate: int
) -> None:
    data = tone_wav(1.0, rate=rate)
    path = library.store("cti/campaigns/abandon-7", check_prompt(data, max_seconds=30))
    extension = "wav" if rate == 8000 else "wav16"
    assert path == root / f"srv/asterisk/sounds/campaigns/abandon-7.{extension}"
    assert samples_of(path.read_bytes()) == samples_of(data)
    assert path.stat().st_mode & 0o777 == 0o644  # Asterisk may run as another user
    assert library.exists("cti/campaigns/abandon-7")
    assert os.listdir(path.parent) == [path.name]  # no temporary file left


def test_a_new_upload_at_the_other_rate_replaces_the_old_file(
    library: SoundLibrary, root: Path
) -> None:
    """With both files there Asterisk would choose by codec, not the newest."""
    name = "cti/campaigns/abandon-7"
    library.store(name, check_prompt(tone_wav(1.0, rate=8000), max_seconds=30))
    library.store(name, check_prompt(tone_wav(1.0, rate=16000), max_seconds=30))
    assert os.listdir(root / "srv/asterisk/sounds/campaigns") == ["abandon-7.wav16"]
    library.store(name, check_prompt(tone_wav(2.0, rate=8000), max_seconds=30))
    assert os.listdir(root / "srv/asterisk/sounds/campaigns") == ["abandon-7.wav"]


@pytest.mark.parametrize("name", ["tt-allbusy", "cti/../escape", "cti/Upper", "/abs/path"])
def test_only_uploaded_prompt_names_are_written(library: SoundLibrary, name: str) -> None:
    with pytest.raises(ValueError, match="not the name of an uploaded prompt"):
        library.store(name, check_prompt(tone_wav(1.0), max_seconds=30))
