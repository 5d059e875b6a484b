"""Recordings catalogue, tags, legal holds and retention audit (issue 4).

Tables register on ``cti.db.models.Base.metadata``; ``cti.db.metadata`` imports this module
so Alembic and the drift test see them.
"""

from __future__ import annotations

from cti.db.models import Base

__all__ = ["Base"]
