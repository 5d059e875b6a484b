"""The Asterisk node's files, as the service reaches them.

Asterisk and the service share a disk (the same host, a chroot, or a volume): paths in the
configuration are as Asterisk sees them; ``host()`` maps them for the service.
Generated configuration goes to ``<etc_dir>/cti/<name>.conf``, which the shipped
configuration ``#tryinclude``s; it is replaced atomically, so Asterisk never reads half.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path, PurePosixPath

from cti.config import AsteriskFilesSettings

GENERATED_FILES = frozenset(
    {"queues.conf", "queuerules.conf", "extensions.conf", "musiconhold.conf", "voicemail.conf"}
)


class AsteriskFiles:
    def __init__(self, settings: AsteriskFilesSettings) -> None:
        self.settings = settings
        self.root = Path(settings.root) if settings.root else None

    def host(self, path: PurePosixPath | str) -> Path:
        """A path as Asterisk sees it -> the same file from the service."""
        path = PurePosixPath(path)
        if self.root is None:
            return Path(path)
        return self.root / path.relative_to("/")

    def resolve(self, path: PurePosixPath | str) -> Path:
        """Like :meth:`host`, following symbolic links as Asterisk would see them: an
        absolute link inside a chroot (Debian's ``sounds/en -> /etc/alternatives/...``)
        points into the root, not into this host."""
        if self.root is None:
            return Path(path)
        parts = list(PurePosixPath(path).relative_to("/").parts)
        done = PurePosixPath("/")
        hops = 0
        while parts:
            part = parts.pop(0)
            here = done / part
            host = self.host(here)
            if host.is_symlink() and hops < 40:
                hops += 1
                target = PurePosixPath(os.readlink(host))
                base = target if target.is_absolute() else done / target
                parts = list(base.relative_to("/").parts) + parts
                done = PurePosixPath("/")
                continue
            done = here
        return self.host(done)

    @property
    def generated_dir(self) -> Path:
        return self.host(PurePosixPath(self.settings.etc_dir) / "cti")

    @property
    def recordings_dir(self) -> Path:
        """MixMonitor's relative file names land in ``<spool>/monitor``."""
        return self.host(PurePosixPath(self.settings.spool_dir) / "monitor")

    def voicemail_dir(self, context: str) -> Path:
        return self.host(PurePosixPath(self.settings.spool_dir) / "voicemail" / context)

    @property
    def moh_dir(self) -> PurePosixPath:
        """Hold-music classes, as Asterisk sees them (for musiconhold.conf)."""
        return PurePosixPath(self.settings.moh_dir)

    @property
    def sounds_dir(self) -> PurePosixPath:
        """Uploaded prompts, as Asterisk sees them (for Playback/Background)."""
        return PurePosixPath(self.settings.sounds_dir)

    def read_generated(self, name: str) -> str | None:
        path = self._generated(name)
        try:
            return path.read_text()
        except FileNotFoundError:
            return None

    def write_generated(self, name: str, text: str) -> bool:
        """Replace ``<etc>/cti/<name>`` with ``text``; False when it already says that."""
        path = self._generated(name)
        if self.read_generated(name) == text:
            return False
        write_atomic(path, text.encode())
        return True

    def _generated(self, name: str) -> Path:
        if name not in GENERATED_FILES:
            raise ValueError(f"{name!r} is not a file the service generates")
        return self.generated_dir / name


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half:
    a temporary file in the same directory, fsync'd, then renamed over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
