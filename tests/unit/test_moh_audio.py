"""Hold-music checks and conversion: sniffing, real pydub/ffmpeg conversion of generated
tones, file and class names, the rendered musiconhold.conf, atomic installs."""

from __future__ import annotations

import contextlib
import math
import shutil
import subprocess
import wave
from array import array
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.telephony.moh import (
    AudioTooLong,
    AudioTooShort,
    MohClassConf,
    MohDirectory,
    NotAudio,
    UndecodableAudio,
    convert_to_moh,
    file_name_for,
    is_class_name,
    is_file_name,
    render_musiconhold,
    sniff_format,
)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None,
                                reason="ffmpeg is installed by scripts/bootstrap")


def tone(path: Path, *codec: str, seconds: float = 1.5, rate: int = 44100,
         channels: int = 2) -> Path:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=440:sample_rate={rate}:duration={seconds}", "-ac", str(channels),
         *codec, str(path)],
        check=True, timeout=60,
    )
    return path


def rms(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        samples = array("h", w.readframes(w.getnframes()))
    return math.sqrt(sum(s * s for s in samples) / len(samples))


@pytest.mark.parametrize(("name", "codec", "fmt"), [
    ("a.wav", (), "wav"),
    ("a16.wav", ("-ar", "16000", "-c:a", "pcm_s24le"), "wav"),
    ("a.mp3", ("-codec:a", "libmp3lame", "-b:a", "64k"), "mp3"),
    ("a.ogg", ("-codec:a", "libvorbis"), "ogg"),
])
def test_converts_to_mono_16_bit_8_khz(tmp_path: Path, name: str, codec: tuple[str, ...],
                                       fmt: str) -> None:
    source = tone(tmp_path / name, *codec)
    target = tmp_path / "out.wav"
    done = convert_to_moh(source, target, max_seconds=60)
    assert done.source_format == fmt
    assert 1.4 <= done.duration <= 1.7
    with wave.open(str(target), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getcomptype() == "NONE"
        assert 1.4 <= w.getnframes() / 8000 <= 1.7
    assert rms(target) > 1000  # the tone survived, it is not silence


def test_too_long_and_too_short(tmp_path: Path) -> None:
    with pytest.raises(AudioTooLong):
        convert_to_moh(tone(tmp_path / "long.wav", seconds=3), tmp_path / "o.wav",
                       max_seconds=2)
    with pytest.raises(AudioTooShort):
        convert_to_moh(tone(tmp_path / "short.wav", seconds=0.1), tmp_path / "o.wav",
                       max_seconds=60)
    assert not (tmp_path / "o.wav").exists()


def test_not_audio_and_undecodable(tmp_path: Path) -> None:
    text = tmp_path / "a.mp3"
    text.write_text("hello\n" * 100)
    with pytest.raises(NotAudio):
        convert_to_moh(text, tmp_path / "o.wav", max_seconds=60)
    broken = tmp_path / "b.ogg"
    broken.write_bytes(b"OggS" + b"\x00\x01garbage" * 500)
    with pytest.raises(UndecodableAudio):
        convert_to_moh(broken, tmp_path / "o.wav", max_seconds=60)
    truncated = tmp_path / "c.wav"
    truncated.write_bytes(tone(tmp_path / "full.wav").read_bytes()[:30])
    with pytest.raises(UndecodableAudio):
        convert_to_moh(truncated, tmp_path / "o.wav", max_seconds=60)


@pytest.mark.parametrize(("head", "fmt"), [
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "wav"),
    (b"OggS\x00\x02", "ogg"),
    (b"ID3\x04\x00", "mp3"),
    (b"\xff\xfb\x90\x64", "mp3"),  # MPEG-1 layer III frame
    (b"\xff\xf3\x64\xc4", "mp3"),  # MPEG-2 layer III frame
])
def test_sniff_known_formats(head: bytes, fmt: str) -> None:
    assert sniff_format(head) == fmt


@pytest.mark.parametrize("head", [b"", b"RIFF\x00\x00\x00\x00AVI ", b"\xff\xf1\x50\x80",
                                  b"%PDF-1.7", b"<html>", b"fLaC"])
def test_sniff_refuses_the_rest(head: bytes) -> None:
    with pytest.raises(NotAudio):
        sniff_format(head)


@given(st.binary(max_size=64))
def test_sniff_answers_a_format_or_not_audio(head: bytes) -> None:
    with contextlib.suppress(NotAudio):
        assert sniff_format(head) in {"wav", "mp3", "ogg"}


@pytest.mark.parametrize(("upload", "expected"), [
    ("Summer Song.mp3", "summer-song.wav"),
    ("C:\\music\\Hold Me.ogg", "hold-me.wav"),
    ("../../etc/passwd", "passwd.wav"),
    ("Été à Paris.wav", "ete-a-paris.wav"),
    ("....", "fallback.wav"),
    (None, "fallback.wav"),
    ("日本.mp3", "fallback.wav"),
])
def test_file_name_for(upload: str | None, expected: str) -> None:
    assert file_name_for(upload, "fallback.wav") == expected


@given(st.one_of(st.none(), st.text(max_size=200)))
def test_file_name_for_is_always_safe(upload: str | None) -> None:
    assert is_file_name(file_name_for(upload, "fallback.wav"))


def test_class_names() -> None:
    assert is_class_name("sales") and is_class_name("sales-jazz_2")
    for bad in ("default", "general", "Sales", "1sales", "a;b", "a]b", "", "x" * 41, "a\nb"):
        assert not is_class_name(bad), bad


def test_render_musiconhold_skips_empty_classes() -> None:
    text = render_musiconhold([MohClassConf("support", 2), MohClassConf("empty", 0),
                               MohClassConf("sales", 1)], PurePosixPath("/var/moh"))
    assert "[empty]" not in text
    assert text.index("[sales]") < text.index("[support]")
    assert "[sales]\nmode = files\ndirectory = /var/moh/sales\n" in text
    with pytest.raises(ValueError):
        render_musiconhold([MohClassConf("default", 1)], PurePosixPath("/var/moh"))
    with pytest.raises(ValueError):
        render_musiconhold([], PurePosixPath("/var/moh\n[evil]"))


def test_install_is_a_rename_and_withdraw_moves_out(tmp_path: Path) -> None:
    moh = MohDirectory(tmp_path)
    staged = moh.new_staged_file()
    staged.write_bytes(b"RIFF")
    target = moh.install(staged, "sales", "a.wav")
    assert target == tmp_path / "sales" / "a.wav" and target.read_bytes() == b"RIFF"
    assert not staged.exists()
    withdrawn = moh.withdraw_file("sales", "a.wav")
    assert withdrawn is not None and withdrawn.parent == tmp_path / ".staging"
    assert list((tmp_path / "sales").iterdir()) == []
    assert moh.withdraw_file("sales", "a.wav") is None
    with pytest.raises(ValueError):
        moh.install(withdrawn, "sales", "../a.wav")
    with pytest.raises(ValueError):
        moh.class_dir("..")
    moh.remove_class("sales")
    assert not (tmp_path / "sales").exists()
