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
