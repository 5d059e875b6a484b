"""The shipped Asterisk configuration rendered for an instance: the channel event log
goes to the service's database only when the instance is given one, and nothing unsafe
reaches the files."""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath

import pytest

from cti.stack.product import chroot_instance_dir
from cti.stack.render import AsteriskParams, CelDatabase, ConfigValueError, render

PARAMS = AsteriskParams(instance_dir=PurePosixPath("/srv/asterisk"), sip_port=5060,
                        ami_port=5038, rtp_start=10000, rtp_end=10100,
                        ami_secret="s3cret-for-tests")


def _settings(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines()
             if "=" in line and not line.lstrip().startswith(";"))
    return {k.strip(): v.split(";")[0].strip() for k, v in pairs}


def test_without_a_database_asterisk_keeps_no_channel_event_log() -> None:
    files = render(PARAMS)
    assert _settings(files["cel.conf"])["enable"] == "no"
    assert "noload => cel_pgsql.so" in files["modules.conf"]


def test_with_the_database_the_log_goes_there_in_utc() -> None:
    cel = CelDatabase(host="127.0.0.1", port=55432, dbname="cti", user="cti")
    files = render(dataclasses.replace(PARAMS, cel_database=cel))
    cel_conf = _settings(files["cel.conf"])
    assert cel_conf["enable"] == "yes"
    assert cel_conf["events"] == "ANSWER,BRIDGE_ENTER,USER_DEFINED,HANGUP,CHAN_END"
    assert "\nload => cel_pgsql.so" in files["modules.conf"]
    pgsql = _settings(files["cel_pgsql.conf"])
    assert {k: pgsql[k] for k in ("hostname", "port", "dbname", "user", "table", "usegmtime")
            } == {"hostname": "127.0.0.1", "port": "55432", "dbname": "cti", "user": "cti",
                  "table": "cel", "usegmtime": "yes"}
    assert "password" not in pgsql  # trusted on loopback: no password line at all
    with_password = render(dataclasses.replace(
        PARAMS, cel_database=dataclasses.replace(cel, password="pg-pass-1234")))
    assert _settings(with_password["cel_pgsql.conf"])["password"] == "pg-pass-1234"


@pytest.mark.parametrize("bad", [
    {"host": "db\nenable = no"}, {"dbname": "cti;drop"}, {"port": 0},
    {"user": "a b"}, {"password": "has space"}, {"password": "x;y"},
])
def test_an_unsafe_database_setting_is_refused(bad: dict[str, object]) -> None:
    cel = dataclasses.replace(CelDatabase(host="127.0.0.1", port=5432, dbname="cti",
                                          user="cti"), **bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigValueError):
        render(dataclasses.replace(PARAMS, cel_database=cel))


def test_each_stack_directory_gets_its_own_asterisk_files_in_the_shared_root() -> None:
    default = chroot_instance_dir(Path("/var/lib/cti"))
    assert default == PurePosixPath("/var/lib/cti-instances/product")  # as it always was
    other, again = chroot_instance_dir(Path("/tmp/a")), chroot_instance_dir(Path("/tmp/a"))
    assert other == again and other not in (default, chroot_instance_dir(Path("/tmp/b")))
