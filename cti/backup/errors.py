"""The backup package's errors (hierarchy in ``cti.backup``'s docstring)."""

from __future__ import annotations


class BackupError(Exception):
    """Base of every backup and restore failure."""


class ToolNotFound(BackupError):
    pass


class ToolFailed(BackupError):
    def __init__(self, tool: str, returncode: int, stderr: str) -> None:
        super().__init__(f"{tool} exited with status {returncode}: {stderr.strip()[-2000:]}")
        self.tool = tool
        self.returncode = returncode


class ManifestError(BackupError):
    pass


class DatabaseNotEmpty(BackupError):
    pass


class BackupBusy(BackupError):
    """Another backup (or a restore) holds the backup directory's lock."""


class SourceRefused(BackupError):
    """A directory to back up is missing, or empty while the last backup has its files:
    backing it up would drop them from the backup (an unmounted volume, a wrong path)."""


class Cancelled(BackupError):
    """The run was asked to stop (the service stopping or stepping down)."""
