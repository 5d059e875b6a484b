"""docker-compose.yml against the service's settings (Docker is not run here): every
``CTI_`` variable it sets is one the settings read, and every directory the service keeps
state in, or shares with Asterisk, is on a volume, so recreating a container loses
nothing and both containers see the same files."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from cti.config import Settings

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def service_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    env = compose()["services"]["cti"]["environment"]
    for name in [n for n in os.environ if n.startswith("CTI_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, str(value).replace("${CTI_STACK_AMI_SECRET:?set "
                                                    "CTI_STACK_AMI_SECRET}", "s3cret"))
    return Settings()


def mounts(service: str) -> dict[PurePosixPath, str]:
    found = {}
    for volume in compose()["services"][service].get("volumes", []):
        name, path, *_ = volume.split(":")
        found[PurePosixPath(path)] = name
    return found


def volume_of(service: str, path: str) -> str | None:
    return next((name for mount, name in mounts(service).items()
                 if PurePosixPath(path).is_relative_to(mount)), None)


def test_every_cti_variable_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    service_settings(monkeypatch)  # and they parse
    known = {f"CTI_{name.upper()}__{field.upper()}"
             for name, section in Settings.model_fields.items()
             if section.annotation is not None and hasattr(section.annotation, "model_fields")
             for field in section.annotation.model_fields}
    env = compose()["services"]["cti"]["environment"]
    assert sorted(set(env) - known) == []


def test_the_service_keeps_its_state_on_volumes(monkeypatch: pytest.MonkeyPatch) -> None:
    s = service_settings(monkeypatch)
    for what, path in [("history spill", s.history.spill_dir),
                       ("lead-import spool", s.dialer.import_spool_dir)]:
        assert PurePosixPath(path).is_absolute(), (what, path)
        assert volume_of("cti", path), f"the {what} ({path}) is in the container's own layer"


def test_the_files_the_service_shares_with_asterisk_are_the_same_volumes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    a = service_settings(monkeypatch).asterisk
    shared = {"generated configuration": f"{a.etc_dir}/cti", "recordings":
              f"{a.spool_dir}/monitor", "voicemail": f"{a.spool_dir}/voicemail",
              "hold music": a.moh_dir, "uploaded prompts": a.sounds_dir,
              "Asterisk's own prompts": a.system_sounds_dir}
    for what, path in shared.items():
        mine = volume_of("cti", path)
        assert mine is not None, f"{what} ({path}) is not mounted in the service"
        assert volume_of("asterisk", path) == mine, f"{what} ({path}) is another volume"
