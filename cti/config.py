"""Settings, split by concern, read from the environment (prefix ``CTI_``).

Nested values use ``__``: ``CTI_DATABASE__URL``, ``CTI_AMI__NODES='[{"name": "node1", ...}]'``.
Outside development the service refuses the shipped default secrets.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_AMI_SECRET = "cti-dev-secret"


class AmiNode(BaseModel):
    """One Asterisk node the service drives."""

    name: str = Field(default="node1", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = "cti"
    secret: SecretStr = SecretStr(DEV_AMI_SECRET)


class AmiSettings(BaseModel):
    nodes: list[AmiNode] = Field(default_factory=lambda: [AmiNode()], min_length=1)
    action_timeout: float = Field(default=5.0, gt=0)
    ping_interval: float = Field(default=5.0, gt=0)
    ping_timeout: float = Field(default=3.0, gt=0)
    reconnect_initial: float = Field(default=0.5, gt=0)
    reconnect_max: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _unique_names(self) -> AmiSettings:
        names = [n.name for n in self.nodes]
        if len(names) != len(set(names)):
            raise ValueError(f"AMI node names must be unique, got {names}")
        return self


class DatabaseSettings(BaseModel):
    url: str = "postgresql+asyncpg://cti@127.0.0.1:5432/cti"


class HistorySettings(BaseModel):
    batch_size: int = Field(default=500, ge=1)
    flush_interval: float = Field(default=0.5, gt=0)
    buffer_limit: int = Field(default=100_000, ge=1)  # in memory; beyond it, spill to disk
    spill_dir: str = "var/history-spill"
    retry_initial: float = Field(default=0.5, gt=0)
    retry_max: float = Field(default=10.0, gt=0)


class TelephonySettings(BaseModel):
    """How the dialplan we ship names things; must match asterisk-conf/."""

    trunk_endpoints: list[str] = Field(default_factory=lambda: ["trunk"])
    inbound_contexts: list[str] = Field(default_factory=lambda: ["from-trunk"])
    # The default skill groups' settings when the service seeds them on first start;
    # afterwards each group's settings live in PostgreSQL (/v1/skill-groups).
    wrapup_seconds: int = Field(default=10, ge=0, le=3600)
    max_wait_seconds: int = Field(default=300, ge=1, le=86400)
    group_wrapup_seconds: dict[str, int] = Field(default_factory=dict)
    # numbers no group or menu claims go here (unless a menu is catch_all)
    fallback_group: str = Field(default="sales", pattern=r"^[a-z][a-z0-9_-]{1,39}$")
    voicemail_pin: str = Field(default="4242", pattern=r"^[0-9]{4,12}$")


class AsteriskFilesSettings(BaseModel):
    """Where the Asterisk node keeps the files the service shares with it.

    Paths are as Asterisk sees them (they are written into its configuration); ``root``
    is prefixed to reach them from the service, for an Asterisk in a chroot or one whose
    directories are mounted elsewhere (a container volume).
    """

    root: str = ""
    etc_dir: str = "/etc/asterisk"  # the service writes its generated files in etc_dir/cti
    spool_dir: str = "/var/spool/asterisk"  # voicemail/, monitor/ (recordings)
    moh_dir: str = "/var/lib/asterisk/moh-cti"  # one directory per uploaded hold class
    # Uploaded prompts (IVR greetings, campaigns' abandon messages in campaigns/): Asterisk
    # plays them by absolute path, so it must be a directory both can reach (the bench
    # renders it inside the chroot, docker-compose mounts one volume in both containers).
    sounds_dir: str = "/var/lib/asterisk/sounds/cti"
    system_sounds_dir: str = "/usr/share/asterisk/sounds/en"  # Asterisk's own prompts


class MediaSettings(BaseModel):
    """Voicemail and hold music (issue 3): the node whose files ``asterisk`` describes."""

    node: str | None = None  # the AMI node sharing those files; None: the first node
    voicemail_context: str = Field(default="groups", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    moh_max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    moh_max_seconds: int = Field(default=1800, ge=1)  # longest hold track accepted
    convert_timeout: float = Field(default=120.0, gt=0)  # ffmpeg decoding one upload


class DialerSettings(BaseModel):
    """Outbound: lead import and number parsing, click-to-dial, the campaign runner."""

    default_region: str = Field(default="CN", pattern=r"^[A-Z]{2}$")  # national numbers
    import_batch_size: int = Field(default=5_000, ge=1, le=100_000)  # rows per COPY
    max_reported_errors: int = Field(default=1_000, ge=0, le=100_000)  # per import report
    # Uploads are spooled here and imported in the background (cti/imports/).
    import_spool_dir: str = "var/lead-imports"
    import_max_bytes: int = Field(default=1024 * 1024 * 1024, ge=1024)  # 413 beyond
    # Processes that validate numbers (phonenumbers), off the service's GIL; 0: a thread of
    # the service. On the 2 busy shared cores of bench/lead_import a worker process was no
    # faster than the thread (pickling, 165 MB more): use it where cores are idle.
    import_workers: int = Field(default=0, ge=0, le=32)
    # Placing calls (click-to-dial, the campaign runner): cti/outbound.
    trunk: str = Field(default="trunk", pattern=r"^[A-Za-z0-9_-]{1,40}$")  # PJSIP endpoint
    # The caller ID customers see on dials made without a campaign.
    caller_id: str = Field(default="", pattern=r"^\+?[0-9]{0,20}$")
    agent_ring_seconds: int = Field(default=20, ge=5, le=120)  # click-to-dial's first leg
    # Regulators want at least 15 s of ringing before an unanswered call is given up.
    customer_ring_seconds: int = Field(default=25, ge=15, le=120)
    # Predictive campaigns ring less: a late answer is the one the pacer can least place
    # with a free agent (dialer/pacing/snapshot.py, PacingSettings.predictive_ring_timeout).
    predictive_ring_seconds: int = Field(default=15, ge=15, le=120)
    # A campaign's ring time is counted from the customer's phone ringing (180 Ringing),
    # not from the INVITE: the network's post-dial delay (seconds on mobile routes) would
    # otherwise eat into the regulators' 15 s. A call that never signals ringing (183
    # with early media only) is given up this long after its ring time.
    post_dial_seconds: int = Field(default=10, ge=0, le=60)
    # Click-to-dial of numbers that are not leads: a harassment guard, counted with the
    # campaigns' dials (a campaign's own caps apply to dials made for it).
    manual_cap_per_day: int = Field(default=3, ge=1, le=100)
    manual_cap_per_week: int = Field(default=10, ge=1, le=700)
    # The campaign runner: a live answer not with an agent after connect_seconds is
    # abandoned and hears abandon_message (a sound Asterisk has: name the seller and a
    # number to call back in it, as the FTC and Ofcom ask).
    connect_seconds: int = Field(default=2, ge=1, le=10)
    # A campaign may have its own (PATCH abandon_message, or upload a recording with PUT
    # /v1/campaigns/{id}/abandon-message): this one is for campaigns that do not.
    abandon_message: str = Field(default="tt-allbusy", pattern=r"^[A-Za-z0-9_/-]{1,80}$")
    # An uploaded message only has to say who called and a number to call back: longer
    # keeps the customer on a line no agent will take (and the upload is held in memory).
    abandon_message_max_seconds: int = Field(default=30, ge=5, le=300)
    tick_seconds: float = Field(default=1.0, gt=0, le=10)
    # The runner keeps each campaign's abandon counters and leads left in memory, fed by
    # its own dials, and re-reads them this often (and on start) for what it cannot see:
    # other nodes' dials, imports, callbacks (cti/outbound/counts.py).
    counts_reread_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Callbacks booked for an agent are read this often, each read taking those due before
    # the next; every tick places those whose time has come as soon as their agent's seat
    # is free (seen live). A callback booked less than this ahead, moved or cancelled is
    # seen up to this late: a few seconds nobody waiting for a call notices, for a fifth of
    # the queries of a read every tick (cti/outbound/runner.py, DueCallbacks).
    callbacks_reread_seconds: float = Field(default=5.0, gt=0, le=60)
    # What each campaign's pacer has learned is saved to PostgreSQL this often while it
    # runs, at the end of each run and at shutdown, and taken back when a new process
    # runs the campaign: a crash loses at most this much of its learning.
    pacing_save_seconds: float = Field(default=300.0, ge=10, le=3600)
    # Asterisk's channel event log (table cel), which a runner settles the calls of an
    # earlier run from after a deploy or a crash (cti/outbound/settle.py), is kept this
    # many days (the abandon rate's longest window), swept hourly.
    channel_log_days: int = Field(default=30, ge=1, le=3650)


class StreamSettings(BaseModel):
    """The live event stream (``WS /v1/events``)."""

    ring_size: int = Field(default=10_000, ge=1)  # deltas kept for resuming clients
    client_queue: int = Field(default=1_000, ge=1)  # a client this far behind is cut off
    cutoff_grace: float = Field(default=5.0, gt=0)  # to deliver the resync before closing
    # How often an open stream's token is checked again: a revoked token, or a user given
    # another role or seat, must not keep receiving live calls for as long as it stays open.
    token_recheck: float = Field(default=60.0, gt=0)
    # Serve WS /v1/events also from its own thread, event loop and port (cti.stream.worker),
    # so that clients' sends never delay the AMI consumer. Unset: only the API's loop.
    port: int | None = Field(default=None, ge=1, le=65535)
    host: str | None = None  # default: the API's host


class RecordingsSettings(BaseModel):
    """Full-call recording (issue 4): catalogue and retention sweep (see recordings/)."""

    enabled: bool = True
    node: str | None = None  # whose Linkedids the files carry; default: the first AMI node
    # Three calendar months span up to 92 days (recordings/retention.py): the floor.
    default_retention_days: int = Field(default=92, ge=92, le=36_500)
    catalogue_interval: float = Field(default=1.0, gt=0)
    catalogue_grace: float = Field(default=30.0, ge=0)  # wait this long for a call's facts
    sweep_interval: float = Field(default=3600.0, gt=0)
    sweep_first_delay: float = Field(default=60.0, ge=0)
    sweep_batch_size: int = Field(default=1000, ge=1, le=100_000)
    sweep_pause: float = Field(default=0.02, ge=0)  # between batches, for the API's queries


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    access_log: bool = True
    #: When set, ``GET /metrics`` asks for it as a bearer token (Prometheus's
    #: ``authorization`` setting). Unset, it is open like /readyz: it says how busy the
    #: call centre is, never who is calling.
    metrics_token: SecretStr | None = None


class ClusterSettings(BaseModel):
    """Replicas sharing one database: the one holding its leader lock drives Asterisk, the
    others stand by (cti/cluster/). A replica alone on its database leads at once."""

    # Shown by standbys as the leader and in /readyz; default: host name and API port.
    replica: str = Field(default="", pattern=r"^[A-Za-z0-9_.:-]{0,50}$")
    check_interval: float = Field(default=1.0, gt=0, le=60)  # a standby's takeover delay
    timeout: float = Field(default=3.0, gt=0, le=60)  # a lock query slower is unanswered


class BackupSettings(BaseModel):
    """Scheduled backups (cti/backup/): the leading replica makes a generation in
    ``target`` daily at ``at`` (in ``timezone``; default the host's local time), or every
    ``interval`` seconds, and keeps the newest ``keep``. No schedule while ``target`` is
    unset; ``cti backup --target DIR`` works either way (and prunes to ``keep`` too)."""

    target: str = ""
    at: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # HH:MM
    interval: float | None = Field(default=None, ge=60)  # seconds, instead of ``at``
    timezone: str | None = None  # an IANA name, e.g. Asia/Shanghai
    keep: int = Field(default=7, ge=1, le=1000)
    # A file modified this recently may still be being written: the next run takes it.
    settle_seconds: float = Field(default=10.0, ge=0, le=3600)
    retry_seconds: float = Field(default=900.0, gt=0)  # after a failed scheduled run
    first_delay: float = Field(default=60.0, ge=0)  # after taking the lead, before any run

    @model_validator(mode="after")
    def _one_schedule(self) -> BackupSettings:
        if self.at is not None and self.interval is not None:
            raise ValueError("set CTI_BACKUP__AT (a daily time) or CTI_BACKUP__INTERVAL, "
                             "not both")
        if self.target and not self.target.strip():
            raise ValueError("CTI_BACKUP__TARGET is blank")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"CTI_BACKUP__TIMEZONE: unknown time zone "
                                 f"{self.timezone!r}") from exc
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CTI_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    ami: AmiSettings = Field(default_factory=AmiSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    telephony: TelephonySettings = Field(default_factory=TelephonySettings)
    asterisk: AsteriskFilesSettings = Field(default_factory=AsteriskFilesSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    dialer: DialerSettings = Field(default_factory=DialerSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    recordings: RecordingsSettings = Field(default_factory=RecordingsSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    backup: BackupSettings = Field(default_factory=BackupSettings)

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            for node in self.ami.nodes:
                if node.secret.get_secret_value() == DEV_AMI_SECRET:
                    raise ValueError(
                        f"AMI node {node.name!r} uses the development secret; "
                        "set CTI_AMI__NODES with a real secret"
                    )
        return self
