"""The directories a backup takes, as the service reaches them, and what each leaves out.

Every file the database refers to lives in one of them:

    recordings   <spool>/monitor: recordings. ``cti/store/`` holds the catalogued ones,
                 whole (moved in by the cataloguer), each with its row: all are taken,
                 however recent. Left out: ``cti/recording/`` (MixMonitor is still
                 writing them) and ``cti/ready/`` (finished but not catalogued yet: the
                 cataloguer may still rewrite a stereo file's header, and moves it into
                 ``cti/store/`` within seconds, where the next run takes it)
    voicemail    <spool>/voicemail: messages and greetings. Left out: each box's ``tmp/``
                 (a message still being recorded)
    moh          uploaded hold music (``CTI_ASTERISK__MOH_DIR``). Left out: ``.staging``
    sounds       uploaded prompts (``CTI_ASTERISK__SOUNDS_DIR``)

Everywhere, names starting with a dot (temporary files, lock files) are left out, and a
file modified within the last ``CTI_BACKUP__SETTLE_SECONDS`` (outside ``cti/store/``)
waits for the next run: nothing says when it is finished.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cti.config import AsteriskFilesSettings
from cti.telephony.files import AsteriskFiles


@dataclass(frozen=True, slots=True)
class Source:
    name: str  # the set (cti.backup.manifest.SETS)
    path: Path
    required: bool = False  # must exist even before any backup has its files
    skip_dirs: tuple[str, ...] = ()  # relative directory patterns (fnmatch), left out
    # Directories whose files are whole once there (renamed in): taken without waiting.
    whole_dirs: tuple[str, ...] = ()

    def skips(self, relative_dir: str) -> bool:
        """Whether a directory (relative POSIX path) is left out, with all it holds."""
        if any(part.startswith(".") for part in PurePosixPath(relative_dir).parts):
            return True
        return any(fnmatch.fnmatchcase(relative_dir, p) for p in self.skip_dirs)

    def is_whole(self, relative_file: str) -> bool:
        return any(relative_file.startswith(f"{d}/") for d in self.whole_dirs)


def sources(settings: AsteriskFilesSettings, *, recordings: bool = True) -> list[Source]:
    """What a backup takes. ``recordings``: recording is on, so its directory must exist
    (the cataloguer creates it); the others may not exist before a first message or
    upload, and are refused when missing only once a backup holds files of theirs."""
    files = AsteriskFiles(settings)
    spool = PurePosixPath(settings.spool_dir)
    return [
        Source("recordings", files.recordings_dir, required=recordings,
               skip_dirs=("cti/recording", "cti/ready"), whole_dirs=("cti/store",)),
        Source("voicemail", files.host(spool / "voicemail"), skip_dirs=("*/*/tmp",)),
        Source("moh", files.host(files.moh_dir)),
        Source("sounds", files.host(files.sounds_dir)),
    ]


def destinations(settings: AsteriskFilesSettings) -> dict[str, Path]:
    """Where a restore puts each set back."""
    return {s.name: s.path for s in sources(settings)}
