"""The incremental-copy decision and the manifest format (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.backup.errors import ManifestError
from cti.backup.manifest import FileEntry, FileStat, Manifest, check_relative, plan_copy

SHA = "0" * 64
names = st.sampled_from(["a.wav", "b.wav", "d/c.wav", "d/e/f.wav", "g.wav"])
stats = st.builds(FileStat, st.integers(0, 3), st.integers(0, 3))


def test_unchanged_file_present_in_backup_is_kept() -> None:
    previous = {"a.wav": FileEntry(10, 5, SHA)}
    plan = plan_copy(previous, {"a.wav": FileStat(10, 5)}, {"a.wav": 10})
    assert (plan.copy, plan.keep, plan.remove) == ((), ("a.wav",), ())


@pytest.mark.parametrize(
    ("current", "present"),
    [
        (FileStat(11, 5), {"a.wav": 10}),  # size changed
        (FileStat(10, 6), {"a.wav": 10}),  # rewritten (mtime changed)
        (FileStat(10, 5), {}),  # the backup copy was deleted
        (FileStat(10, 5), {"a.wav": 3}),  # the backup copy is truncated
    ],
)
def test_changed_or_missing_copy_is_copied(current: FileStat, present: dict[str, int]) -> None:
    plan = plan_copy({"a.wav": FileEntry(10, 5, SHA)}, {"a.wav": current}, present)
    assert plan.copy == ("a.wav",) and plan.keep == ()


@given(
    previous=st.dictionaries(names, st.builds(FileEntry, st.integers(0, 3), st.integers(0, 3),
                                              st.just(SHA))),
    current=st.dictionaries(names, stats),
    present=st.dictionaries(names, st.integers(0, 3)),
)
def test_plan_partitions_the_source_and_removes_only_what_it_lost(
    previous: dict[str, FileEntry], current: dict[str, FileStat], present: dict[str, int]
) -> None:
    plan = plan_copy(previous, current, present)
    assert set(plan.copy) | set(plan.keep) == set(current)
    assert not set(plan.copy) & set(plan.keep)
    assert set(plan.remove) == set(present) - set(current)
    for name in plan.keep:  # never skip a file unless its previous copy is known whole
        assert previous[name].stat == current[name] and present[name] == previous[name].size


def test_manifest_round_trips_through_json() -> None:
    m = Manifest("2026-11-25T10:00:00+00:00", FileEntry(3, 4, "a" * 64),
                 {"x/y.wav": FileEntry(1, 2, "b" * 64)})
    assert Manifest.from_json(m.to_json()) == m


@pytest.mark.parametrize("name", ["/etc/passwd", "../x.wav", "a/../../x", "", "a\\b"])
def test_paths_escaping_the_backup_are_refused(name: str) -> None:
    with pytest.raises(ManifestError):
        check_relative(name)


def test_bad_manifests_are_errors_not_crashes() -> None:
    for text in ("{", "[]", '{"format": 2}', '{"format": 1, "created_at": "x"}',
                 '{"format": 1, "created_at": "x", "database": {"size": 1, "mtime_ns": 1, '
                 '"sha256": "zz"}, "recordings": {}}'):
        with pytest.raises(ManifestError):
            Manifest.from_json(text)
