"""Every table the service owns, in one ``MetaData``: for Alembic and the drift test.

The models live in modules by area; importing them here registers their tables.
"""

from __future__ import annotations

from cti.db import (
    campaign_models,
    cel_models,
    lead_import_models,
    media_models,
    models,
    recording_models,
    supervision_models,
)

metadata = models.Base.metadata

__all__ = ["campaign_models", "cel_models", "lead_import_models", "media_models", "metadata",
           "recording_models", "supervision_models"]
