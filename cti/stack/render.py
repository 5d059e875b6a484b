"""Render the shipped Asterisk configuration (``asterisk-conf/``) for one instance.

Pure: ``render(params)`` returns ``{file name: text}``; ``write_config`` puts them in a
directory. Templates use ``string.Template`` placeholders, but only lower-case braced ones
(``${sip_port}``): dialplan variables are upper-case (``${EXTEN}``) and pass through
untouched, and a misspelt placeholder raises ``KeyError`` instead of reaching Asterisk.

Every value is checked before it is written: a CR, LF, ``;`` or ``[`` in a value could
otherwise add sections or settings to the configuration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from string import Template

from cti.telephony import dialplan
from cti.telephony.defaults import default_config

CONF_DIR = Path(__file__).resolve().parents[2] / "asterisk-conf"

# AMI classes the CTI user gets (verified against Asterisk 22.10, see manager.conf).
# read: which events reach the service.
AMI_READ: tuple[str, ...] = ("system", "call", "agent", "user", "dtmf")
# write: which actions it may send. QueueStatus, QueueSummary, Ping, Login, Logoff, Events,
# Filter need none; QueueAdd/Remove/Pause/Penalty/Log need agent; Originate needs
# originate; Hangup, Redirect, BlindTransfer, Atxfer, MixMonitor, StopMixMonitor,
# MailboxCount need call; CoreShowChannels and DeviceStateList need reporting (or
# system, which is wider); Reload (of the files the service generates: dialplan, hold
# music, voicemail) needs config. QueueReload needs none beyond agent. VoicemailMove and
# VoicemailRemove (mark heard, delete) need user: app_voicemail then renumbers its folders
# and its message-waiting counts itself; the class adds only UserEvent, VoicemailRefresh
# and VoicemailForward besides.
AMI_WRITE: tuple[str, ...] = ("call", "agent", "originate", "reporting", "config", "user")

DEFAULT_SEATS: tuple[str, ...] = ("1001", "1002", "1003", "1004")

_SAFE_VALUE = re.compile(r"^[^\r\n\0;\[\]]*$")
_IDENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_EXTENSION = re.compile(r"^[0-9]{2,16}$")
_SECRET = re.compile(r"^[A-Za-z0-9_.~+/=@%-]{8,128}$")
# A database password as cel_pgsql.conf reads it: no blanks, comment or section marks.
_DB_PASSWORD = re.compile(r"^[^\s;\[\]]{1,128}$")


class ConfigValueError(ValueError):
    """A value would not be safe or valid in the rendered Asterisk configuration."""


@dataclass(frozen=True, slots=True)
class CelDatabase:
    """Where Asterisk writes its channel event log (CEL, ``cel_pgsql``): the service's own
    PostgreSQL database, whose ``cel`` table the migrations create.

    It is Asterisk's record of how each call went, kept while the service is down: a
    campaign runner that starts after a crash or a deploy settles the calls it placed
    before from it (``cti/outbound/settle.py``).
    """

    host: str
    port: int
    dbname: str
    user: str
    password: str | None = None



@dataclass(frozen=True, slots=True)
class Seat:
    """A seat (agent softphone) as a PJSIP endpoint named after its extension.

    ``contact_port`` gives the AOR a static contact ``sip:<ext>@<contact_host>:<port>``
    (the bench's SIPp agents); without it the phone registers, with ``password``.
    """

    extension: str
    contact_port: int | None = None
    contact_host: str = "127.0.0.1"
    password: str | None = None
    display_name: str | None = None


def default_seats() -> tuple[Seat, ...]:
    return tuple(Seat(extension) for extension in DEFAULT_SEATS)


@dataclass(frozen=True, slots=True)
class AsteriskParams:
    """Everything that differs between two Asterisk instances.

    ``instance_dir`` is the path as Asterisk sees it (inside its chroot, when it has one).
    """

    instance_dir: PurePosixPath
    sip_port: int
    ami_port: int
    rtp_start: int
    rtp_end: int
    ami_secret: str
    ami_username: str = "cti"
    seats: tuple[Seat, ...] = field(default_factory=default_seats)
    wrapup_seconds: int = 10
    max_wait: int = 300
    qualify_frequency: int = 0
    bind_address: str = "127.0.0.1"
    media_address: str = "127.0.0.1"
    ami_permit: str = "127.0.0.1/255.255.255.255"
    trunk_match: str = "127.0.0.1"
    trunk_contact: str | None = None
    moh_dir: str = "/usr/share/asterisk/moh"
    voicemail_pin: str = "4242"
    run_user: str = "root"
    run_group: str = "root"
    ami_read: tuple[str, ...] = AMI_READ
    ami_write: tuple[str, ...] = AMI_WRITE
    #: None: no channel event log (an Asterisk without the service's database).
    cel_database: CelDatabase | None = None


#: The channel events a campaign's calls are settled from: answered, bridged to an agent,
#: the dialplan's abandon mark (CELGenUserEvent), hung up (with its cause), gone.
CEL_EVENTS = ("ANSWER", "BRIDGE_ENTER", "USER_DEFINED", "HANGUP", "CHAN_END")


class ConfTemplate(Template):
    """``string.Template`` where only ``${lower_case}`` is a placeholder.

    Any other ``$`` (dialplan ``${EXTEN}``, SIPp ``[$var]``) is left as written.
    """

    flags = re.NOFLAG
    pattern = r"""
    \$(?:
      (?P<escaped>(?!))
      | (?P<named>(?!))
      | \{(?P<braced>[a-z][a-z0-9_]*)\}
      | (?P<invalid>(?!))
    )
    """  # type: ignore[assignment]


def _check(name: str, value: str, pattern: re.Pattern[str] = _SAFE_VALUE) -> str:
    if not pattern.match(value):
        raise ConfigValueError(f"{name}={value!r} is not allowed in the Asterisk configuration")
    return value


def _port(name: str, value: int) -> str:
    if not 1 <= value <= 65535:
        raise ConfigValueError(f"{name}={value} is not a port")
    return str(value)


def _seat_sections(seats: Sequence[Seat]) -> str:
    out: list[str] = []
    seen: set[str] = set()
    for seat in seats:
        ext = _check("seat", seat.extension, _EXTENSION)
        if ext in seen:
            raise ConfigValueError(f"seat {ext} is listed twice")
        seen.add(ext)
        name = _check("display_name", seat.display_name or f"Seat {ext}")
        if '"' in name:
            raise ConfigValueError(f"display_name={name!r} contains a quote")
        endpoint = [f"[{ext}](seat-endpoint)", f"aors = {ext}", f'callerid = "{name}" <{ext}>']
        aor = [f"[{ext}](seat-aor)"]
        if seat.contact_port is not None:
            host = _check("contact_host", seat.contact_host, _IDENT)
            aor.append(f"contact = sip:{ext}@{host}:{_port('contact_port', seat.contact_port)}")
        if seat.password is not None:
            endpoint.append(f"auth = {ext}-auth")
        out += [*endpoint, "", *aor, ""]
        if seat.password is not None:
            password = _check("seat password", seat.password, _SECRET)
            out += [f"[{ext}-auth](seat-auth)", f"username = {ext}", f"password = {password}", ""]
    return "\n".join(out)


def _trunk_aor(contact: str | None) -> tuple[str, str]:
    if contact is None:
        return "", ""
    contact = _check("trunk_contact", contact)
    if not contact.startswith("sip:"):
        raise ConfigValueError(f"trunk_contact={contact!r} is not a sip: URI")
    return "aors = trunk\n", f"\n[trunk]\ntype = aor\ncontact = {contact}\n"


def _cel(database: CelDatabase | None) -> dict[str, str]:
    if database is None:
        return {"cel_enable": "no", "cel_pgsql_load": "noload", "cel_host": "localhost",
                "cel_port": "5432", "cel_dbname": "cti", "cel_user": "cti",
                "cel_password": ""}
    password = database.password
    return {
        "cel_enable": "yes",
        "cel_pgsql_load": "load",
        "cel_host": _check("cel host", database.host, _IDENT),
        "cel_port": _port("cel port", database.port),
        "cel_dbname": _check("cel dbname", database.dbname, _IDENT),
        "cel_user": _check("cel user", database.user, _IDENT),
        "cel_password": "" if password is None else
        f"password = {_check('cel password', password, _DB_PASSWORD)}",
    }


def substitutions(params: AsteriskParams) -> dict[str, str]:
    """The placeholder values for ``params``, each checked."""
    if params.rtp_end <= params.rtp_start:
        raise ConfigValueError("rtp_end must be above rtp_start")
    for name in ("wrapup_seconds", "max_wait", "qualify_frequency"):
        if getattr(params, name) < 0:
            raise ConfigValueError(f"{name} must not be negative")
    aor_line, aor_section = _trunk_aor(params.trunk_contact)
    classes = re.compile(r"^[a-z]+$")
    return {
        "instance_dir": _check("instance_dir", str(params.instance_dir)),
        "run_user": _check("run_user", params.run_user, _IDENT),
        "run_group": _check("run_group", params.run_group, _IDENT),
        "sip_bind": _check("bind_address", params.bind_address, _IDENT),
        "sip_port": _port("sip_port", params.sip_port),
        "media_address": _check("media_address", params.media_address, _IDENT),
        "qualify_frequency": str(params.qualify_frequency),
        "seats": _seat_sections(params.seats),
        "trunk_match": _check("trunk_match", params.trunk_match),
        "trunk_aor_line": aor_line,
        "trunk_aor": aor_section,
        "rtp_start": _port("rtp_start", params.rtp_start),
        "rtp_end": _port("rtp_end", params.rtp_end),
        "max_wait": str(params.max_wait),
        "wrapup_seconds": str(params.wrapup_seconds),
        "moh_dir": _check("moh_dir", params.moh_dir),
        "voicemail_pin": _check("voicemail_pin", params.voicemail_pin, re.compile(r"^\d{4,12}$")),
        "ami_bind": _check("bind_address", params.bind_address, _IDENT),
        "ami_port": _port("ami_port", params.ami_port),
        "ami_username": _check("ami_username", params.ami_username, _IDENT),
        "ami_secret": _check("ami_secret", params.ami_secret, _SECRET),
        "ami_permit": _check("ami_permit", params.ami_permit),
        "ami_read": ",".join(_check("ami_read", c, classes) for c in params.ami_read),
        "ami_write": ",".join(_check("ami_write", c, classes) for c in params.ami_write),
        "cel_events": ",".join(CEL_EVENTS),
        **_cel(params.cel_database),
    }


def render(params: AsteriskParams, conf_dir: Path = CONF_DIR) -> dict[str, str]:
    """Every ``*.conf`` template of ``conf_dir`` rendered for ``params``."""
    values = substitutions(params)
    files = sorted(conf_dir.glob("*.conf"))
    if not files:
        raise FileNotFoundError(f"no *.conf templates in {conf_dir}")
    return {path.name: ConfTemplate(path.read_text()).substitute(values) for path in files}


def generated_defaults(params: AsteriskParams) -> dict[str, str]:
    """``cti/*.conf`` as the service would write them for the default inbound setup."""
    config = default_config(wrapup_seconds=params.wrapup_seconds,
                            max_wait_seconds=max(params.max_wait, 1))
    files = dialplan.render(config, voicemail_pin=params.voicemail_pin,
                            sounds_dir=str(params.instance_dir / "sounds"))
    return {f"cti/{name}": text for name, text in files.items()}


def write_config(rendered: Mapping[str, str], etc_dir: Path,
                 seed: Mapping[str, str] | None = None) -> None:
    """Write rendered files into ``etc_dir`` (created if missing), and ``seed`` files only
    where none exist yet: those are the service's to rewrite, a restart must keep them."""
    etc_dir.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (etc_dir / name).write_text(text)
    for name, text in (seed or {}).items():
        path = etc_dir / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
