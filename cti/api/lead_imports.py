"""Progress of lead imports, for ``GET /v1/campaigns/{id}/imports``.

An import runs inside its upload request (the body is the stream); a million rows take
minutes, so a supervisor's screen asks here how far it got. The tracker lives in memory
in the replica running the import, and keeps the last ``keep`` finished ones.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

ImportState = Literal["running", "done", "failed"]


@dataclass(frozen=True, slots=True)
class ImportStatus:
    id: int
    campaign_id: int
    state: ImportState
    started_at: datetime
    updated_at: datetime
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    error: str | None = None


class ImportTracker:
    def __init__(self, clock: Callable[[], datetime], keep: int = 100) -> None:
        self._clock = clock
        self._keep = keep
        self._ids = itertools.count(1)
        self._all: OrderedDict[int, ImportStatus] = OrderedDict()

    def start(self, campaign_id: int) -> int:
        now = self._clock()
        import_id = next(self._ids)
        self._all[import_id] = ImportStatus(import_id, campaign_id, "running", now, now)
        self._trim()
        return import_id

    def progress(self, import_id: int, rows: int, imported: int, rejected: int) -> None:
        current = self._all.get(import_id)
        if current is not None:
            self._all[import_id] = replace(current, rows=rows, imported=imported,
                                           rejected=rejected, updated_at=self._clock())

    def finish(self, import_id: int, rows: int, imported: int, rejected: int) -> None:
        self.progress(import_id, rows, imported, rejected)
        self._set_state(import_id, "done", None)

    def fail(self, import_id: int, error: str) -> None:
        """The import was rolled back: nothing of it is in the campaign."""
        self._set_state(import_id, "failed", error)

    def _set_state(self, import_id: int, state: ImportState, error: str | None) -> None:
        current = self._all.get(import_id)
        if current is not None:
            self._all[import_id] = replace(current, state=state, error=error,
                                           updated_at=self._clock())

    def of_campaign(self, campaign_id: int) -> list[ImportStatus]:
        """Newest first."""
        return [s for s in reversed(self._all.values()) if s.campaign_id == campaign_id]

    def _trim(self) -> None:
        finished = [i for i, s in self._all.items() if s.state != "running"]
        for import_id in finished[: max(0, len(self._all) - self._keep)]:
            del self._all[import_id]
