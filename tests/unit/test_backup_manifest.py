"""The copy decisions, the source check and the manifest format (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.backup.errors import ManifestError, SourceRefused
from cti.backup.manifest import (
    FileEntry,
    FileStat,
    Manifest,
    SourceState,
    check_key,
    check_relative,
    check_sources,
    plan_copy,
)

SHA = "0" * 64
NOW = 1_000_000_000_000
SETTLE = 10_000_000_000  # 10 s
OLD = NOW - 3600 * 10**9
keys = st.sampled_from(["recordings/a.wav", "recordings/d/c.wav", "voicemail/g/s/INBOX/m.wav",
                        "moh/jazz/t.wav", "sounds/ivr/w.wav"])


def test_an_unchanged_file_is_linked_not_copied() -> None:
    previous = {"recordings/a.wav": FileEntry(10, OLD, SHA)}
    plan = plan_copy(previous, {"recordings/a.wav": FileStat(10, OLD)}, now_ns=NOW,
                     settle_ns=SETTLE)
    assert (plan.link, plan.copy, plan.deferred, plan.dropped) == (("recordings/a.wav",),
                                                                   (), (), ())


@pytest.mark.parametrize("found", [FileStat(11, OLD), FileStat(10, OLD + 1)])
def test_a_changed_file_is_copied(found: FileStat) -> None:
    plan = plan_copy({"recordings/a.wav": FileEntry(10, OLD, SHA)}, {"recordings/a.wav": found},
                     now_ns=NOW, settle_ns=SETTLE)
    assert plan.copy == ("recordings/a.wav",) and plan.link == ()


def test_a_file_written_moments_ago_waits_for_the_next_run() -> None:
    """Given a file modified 2 s ago and one 11 s ago, when planned with 10 s to settle,
    then the first is deferred and the second copied."""
    current = {"moh/a.wav": FileStat(5, NOW - 2 * 10**9),
               "moh/b.wav": FileStat(5, NOW - 11 * 10**9)}
    plan = plan_copy({}, current, now_ns=NOW, settle_ns=SETTLE)
    assert plan.deferred == ("moh/a.wav",) and plan.copy == ("moh/b.wav",)


def test_a_file_known_whole_is_taken_however_recent() -> None:
    """A catalogued recording was moved into the store whole, and the dump has its row."""
    current = {"recordings/cti/store/a.wav": FileStat(5, NOW)}
    plan = plan_copy({}, current, now_ns=NOW, settle_ns=SETTLE,
                     whole={"recordings/cti/store/a.wav"})
    assert plan.copy == ("recordings/cti/store/a.wav",) and plan.deferred == ()


def test_files_gone_from_the_source_are_dropped_from_the_new_generation_only() -> None:
    plan = plan_copy({"recordings/a.wav": FileEntry(10, OLD, SHA)}, {}, now_ns=NOW,
                     settle_ns=SETTLE)
    assert plan.dropped == ("recordings/a.wav",) and plan.link == plan.copy == ()


@given(
    previous=st.dictionaries(keys, st.builds(FileEntry, st.integers(0, 3),
                                             st.integers(NOW - 3, NOW), st.just(SHA))),
    current=st.dictionaries(keys, st.builds(FileStat, st.integers(0, 3),
                                            st.integers(NOW - 3, NOW))),
    settle=st.integers(0, 3),
)
def test_the_plan_partitions_the_source(
    previous: dict[str, FileEntry], current: dict[str, FileStat], settle: int
) -> None:
    plan = plan_copy(previous, current, now_ns=NOW, settle_ns=settle)
    taken = [*plan.link, *plan.copy, *plan.deferred]
    assert sorted(taken) == sorted(current)  # every file once
    assert set(plan.dropped) == set(previous) - set(current)
    for key in plan.link:  # shared only when the scan says it is the same file
        assert previous[key].same_file(current[key])
    for key in plan.copy:  # never copied while it may still be being written
        assert current[key].mtime_ns <= NOW - settle


def _state(name: str, *, exists: bool = True, files: int = 0,
           required: bool = False) -> SourceState:
    return SourceState(name, f"/srv/{name}", exists, files, required)


def _had(**counts: int) -> Manifest:
    files = {f"{name}/{i}.wav": FileEntry(1, OLD, SHA)
             for name, n in counts.items() for i in range(n)}
    return Manifest("2026-11-25T02:00:00+00:00", FileEntry(1, OLD, SHA), files)


def test_a_missing_directory_whose_files_the_backup_has_is_refused_naming_it() -> None:
    with pytest.raises(SourceRefused, match=r"recordings directory /srv/recordings does not "
                                            r"exist.*holds 8"):
        check_sources([_state("recordings", exists=False)], _had(recordings=8))


def test_a_missing_required_directory_is_refused_even_on_a_first_backup() -> None:
    with pytest.raises(SourceRefused, match="/srv/recordings"):
        check_sources([_state("recordings", exists=False, required=True)], None)


def test_a_missing_optional_directory_with_nothing_backed_up_is_fine() -> None:
    check_sources([_state("moh", exists=False), _state("sounds", exists=False)], _had(moh=0))


def test_an_emptied_directory_is_refused_unless_allowed() -> None:
    states = [_state("voicemail", files=0), _state("recordings", files=3)]
    with pytest.raises(SourceRefused, match=r"voicemail directory /srv/voicemail holds no "
                                            r"files.*--allow-empty"):
        check_sources(states, _had(voicemail=2, recordings=3))
    check_sources(states, _had(voicemail=2, recordings=3), allow_empty=True)
    with pytest.raises(SourceRefused):  # a missing directory is never "allowed empty"
        check_sources([_state("voicemail", exists=False)], _had(voicemail=2),
                      allow_empty=True)


def test_a_shrunken_directory_is_not_refused() -> None:
    """The retention sweep deletes many recordings at once: only empty is suspicious."""
    check_sources([_state("recordings", files=1)], _had(recordings=500))


def test_manifest_round_trips_through_json() -> None:
    m = Manifest("2026-11-25T10:00:00+00:00", FileEntry(3, 4, "a" * 64),
                 {"recordings/x/y.wav": FileEntry(1, 2, "b" * 64, 0o640),
                  "voicemail/g/1/INBOX/msg0000.txt": FileEntry(5, 6, "c" * 64, 0o600)})
    assert Manifest.from_json(m.to_json()) == m


def test_a_format_1_manifest_reads_as_recordings() -> None:
    text = ('{"format": 1, "created_at": "x", "database": {"size": 1, "mtime_ns": 2, '
            f'"sha256": "{SHA}"}}, "recordings": {{"a/b.wav": {{"size": 3, "mtime_ns": 4, '
            f'"sha256": "{SHA}"}}}}}}')
    m = Manifest.from_json(text)
    assert m.files == {"recordings/a/b.wav": FileEntry(3, 4, SHA)}
    assert m.count("recordings") == 1 and m.count("voicemail") == 0


@pytest.mark.parametrize("name", ["/etc/passwd", "../x.wav", "a/../../x", "", "a\\b"])
def test_paths_escaping_the_backup_are_refused(name: str) -> None:
    with pytest.raises(ManifestError):
        check_relative(name)


@pytest.mark.parametrize("key", ["x.wav", "recordings", "secrets/a.wav", "recordings/../x",
                                 "../recordings/a.wav"])
def test_keys_outside_the_sets_are_refused(key: str) -> None:
    with pytest.raises(ManifestError):
        check_key(key)


def test_bad_manifests_are_errors_not_crashes() -> None:
    entry = f'{{"size": 1, "mtime_ns": 1, "sha256": "{SHA}"'
    for text in ("{", "[]", '{"format": 3}', '{"format": 1, "created_at": "x"}',
                 '{"format": 1, "created_at": "x", "database": {"size": 1, "mtime_ns": 1, '
                 '"sha256": "zz"}, "recordings": {}}',
                 f'{{"format": 2, "created_at": "x", "database": {entry}}}, '
                 f'"files": {{"recordings/a": {entry}, "mode": "rwx"}}}}}}',
                 f'{{"format": 2, "created_at": "x", "database": {entry}}}, '
                 f'"files": {{"etc/passwd": {entry}}}}}}}'):
        with pytest.raises(ManifestError):
            Manifest.from_json(text)
