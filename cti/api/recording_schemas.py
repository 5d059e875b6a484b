"""Request and response models of ``/v1/recordings``. Store paths never appear here."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from recordings.repository import Note, Policy, Recording

TAG_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}$"
STANDARD_TAGS = ("exemplary", "problem")


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class RecordingOut(_Out):
    id: int
    call_id: str
    direction: str | None
    seat_id: str | None
    customer_number: str | None
    skill_group: str | None
    campaign: str | None
    started_at: datetime
    duration_seconds: float = Field(description="Measured from the audio (data bytes / rate).")
    call_seconds: float | None = Field(
        default=None,
        description="How long the recorded part of the call lasted by its events (recording "
        "start to hang-up); null when not known (catalogued after a restart).")
    audio_gap_seconds: float | None = Field(
        default=None,
        description="call_seconds minus duration_seconds when positive: Asterisk writes "
        "audio only while media flows, so a phone that stopped sending it (silence "
        "suppression, a stalled stream) leaves a recording shorter than the call. The "
        "audio is not padded; null when call_seconds is.")
    size_bytes: int
    sha256: str
    channels: int = Field(description="1, or 2 for stereo: customer left, agent right.")
    legal_hold: bool
    legal_hold_reason: str | None
    tags: list[str]
    audio_url: str

    @classmethod
    def of(cls, r: Recording) -> RecordingOut:
        return cls(
            id=r.id, call_id=r.call_id, direction=r.direction, seat_id=r.seat_id,
            customer_number=r.customer_number, skill_group=r.skill_group,
            campaign=r.campaign, started_at=r.started_at, duration_seconds=r.duration_seconds,
            call_seconds=r.call_seconds, audio_gap_seconds=r.audio_gap_seconds,
            size_bytes=r.size_bytes, sha256=r.sha256, channels=r.channels,
            legal_hold=r.legal_hold, legal_hold_reason=r.legal_hold_reason, tags=list(r.tags),
            audio_url=f"/v1/recordings/{r.id}/audio",
        )


class NoteOut(_Out):
    id: int
    author: str
    body: str
    created_at: datetime

    @classmethod
    def of(cls, n: Note) -> NoteOut:
        return cls(id=n.id, author=n.author, body=n.body, created_at=n.created_at)


class RecordingDetailOut(RecordingOut):
    notes: list[NoteOut]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=4000)


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hold: StrictBool  # "yes" is no answer to a legal hold
    reason: str | None = Field(default=None, max_length=500)


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retention_days: StrictInt = Field(description="At least 92 (three calendar months).",
                                      le=36_500)
    stereo: StrictBool = False


class PolicyOut(_Out):
    key: str
    retention_days: int
    stereo: bool

    @classmethod
    def of(cls, p: Policy) -> PolicyOut:
        return cls(key=p.key, retention_days=p.retention_days, stereo=p.stereo)


class PoliciesOut(_Out):
    default_retention_days: int
    policies: list[PolicyOut]


class SampledOut(_Out):
    day: str
    seat_id: str
    recording: RecordingOut


class SampleOut(_Out):
    seed: str
    items: list[SampledOut]


class SweepOut(_Out):
    dry_run: bool
    skipped: bool
    deleted: int
    bytes: int
    batches: int
    resumed_batches: int
    files_missing: int
    would_delete: int
    would_free_bytes: int
    examples: list[str]
    orphan_count: int
    orphans: list[str]
