"""Response models of ``/v1/voicemail`` and ``/v1/music-on-hold``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cti.api.schemas import Label, epoch_to_datetime
from cti.telephony.moh import CLASS_PATTERN, RESERVED_CLASSES
from cti.telephony.voicemail import Message


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class VoicemailOut(_Out):
    id: str = Field(description="`<box>:<msg_id>`; stable while the message moves between "
                                "folders and app_voicemail renumbers them.",
                    examples=["sales:1764065320-00000003"])
    box: str = Field(description="The voicemail box: the skill group's name.")
    folder: str = Field(examples=["INBOX", "Old"])
    heard: bool
    caller_number: str | None
    caller_name: str | None
    received_at: datetime
    duration_seconds: float
    size_bytes: int
    audio_url: str | None = Field(description="The WAV, None while it is not readable.")

    @classmethod
    def from_message(cls, m: Message) -> VoicemailOut:
        received = epoch_to_datetime(m.received_at)
        assert received is not None
        return cls(
            id=m.id,
            box=m.box,
            folder=m.folder,
            heard=m.heard,
            caller_number=m.caller_number,
            caller_name=m.caller_name,
            received_at=received,
            duration_seconds=m.duration,
            size_bytes=m.size_bytes,
            audio_url=f"/v1/voicemail/{m.id}/audio" if m.audio is not None else None,
        )


class MohFileOut(_Out):
    name: str = Field(examples=["summer-song.wav"])
    original_name: str | None
    source_format: str = Field(examples=["mp3", "ogg", "wav"])
    size_bytes: int
    duration_seconds: float
    sample_rate: int = Field(description="Always 8000: what Asterisk plays.")
    created_at: datetime


class MohClassOut(_Out):
    name: str
    description: str | None
    files: list[MohFileOut]
    active: bool = Field(description="In musiconhold.conf: a class plays once it has a file.")
    created_at: datetime


class MohClassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=CLASS_PATTERN, description="Lower-case identifier; not `default`.")
    description: Label | None = Field(default=None, max_length=200)

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_CLASSES:
            raise ValueError(f"{value!r} is reserved (the shipped class)")
        return value


class MohApplied(_Out):
    applied: bool = Field(description="Asterisk reloaded its hold music; false when the node "
                                      "was unreachable (the files are in place and load with "
                                      "its next reload or start).")


class MohUploadOut(MohApplied):
    music_class: str
    file: MohFileOut
