"""Numbers: E.164 normalisation, named rejection reasons, time zones from the number."""

from __future__ import annotations

from datetime import timedelta

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat

from dialer import numbers
from dialer.numbers import (
    InvalidNumber,
    InvalidTimezone,
    NumberError,
    TimezoneError,
    parse_number,
    resolve_timezones,
    zone_spread,
)


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("13800138000", "CN", "+8613800138000"),
        ("138 0013 8000", "CN", "+8613800138000"),
        ("+86 138-0013-8000", None, "+8613800138000"),
        ("008613800138000", None, "+8613800138000"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("07911 123456", "GB", "+447911123456"),
    ],
)
def test_numbers_normalise_to_e164(raw: str, region: str | None, e164: str) -> None:
    assert parse_number(raw, region).e164 == e164


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", "CN", NumberError.EMPTY),
        ("   ", "CN", NumberError.EMPTY),
        ("call me", "CN", NumberError.NOT_A_NUMBER),
        ("123", "CN", NumberError.TOO_SHORT),
        ("1380013800", "CN", NumberError.INVALID),
        ("13800138000", None, NumberError.INVALID_COUNTRY_CODE),
        ("+999123456789", None, NumberError.INVALID_COUNTRY_CODE),
        ("1" * 70, "CN", NumberError.TOO_LONG),
        ("+1 900 555 0100", None, NumberError.PREMIUM_OR_SHARED),
    ],
)
def test_bad_numbers_are_rejected_with_a_reason(
    raw: str, region: str | None, reason: NumberError
) -> None:
    with pytest.raises(InvalidNumber) as caught:
        parse_number(raw, region)
    assert caught.value.reason is reason
    assert str(caught.value)  # a message for people too


def test_time_zone_comes_from_the_number() -> None:
    assert parse_number("+14155550123").timezones == ("America/Los_Angeles",)
    assert parse_number("13800138000", "CN").timezones == ("Asia/Shanghai",)


def test_xinjiang_numbers_use_the_local_practice_not_beijing_time() -> None:
    assert parse_number("0991 555 1234", "CN").timezones == ("Asia/Urumqi",)  # landline
    assert parse_number("13999123456", "CN").timezones == ("Asia/Urumqi",)  # Urumqi mobile


def test_given_zone_wins_and_unknown_zones_are_rejected() -> None:
    number = parse_number("13800138000", "CN")
    assert resolve_timezones("Asia/Urumqi", number, None) == ("Asia/Urumqi",)
    for bad in ("Mars/Olympus", "../etc/passwd", "Asia/"):
        with pytest.raises(InvalidTimezone) as caught:
            resolve_timezones(bad, number, None)
        assert caught.value.reason is TimezoneError.UNKNOWN


def test_numbers_spanning_far_apart_zones_ask_for_a_zone() -> None:
    toll_free = parse_number("+1 800 555 0100")
    assert len(toll_free.timezones) > 1
    with pytest.raises(InvalidTimezone) as caught:
        resolve_timezones(None, toll_free, None)
    assert caught.value.reason is TimezoneError.AMBIGUOUS
    # The campaign's default zone settles it when the number may ring there.
    assert resolve_timezones(None, toll_free, "America/New_York") == ("America/New_York",)


def test_close_zones_are_all_kept() -> None:
    uk_mobile = parse_number("+447911123456")
    zones = resolve_timezones(None, uk_mobile, None)
    assert "Europe/London" in zones and len(zones) > 1
    assert zone_spread(zones) == timedelta(0)


@given(st.integers(min_value=0, max_value=99_999_999))
def test_any_valid_chinese_mobile_round_trips_through_e164(n: int) -> None:
    raw = f"139{n:08d}"
    parsed = parse_number(raw, "CN")
    assert parsed.e164 == "+86" + raw
    assert parse_number(parsed.e164).e164 == parsed.e164  # idempotent


@given(st.text(max_size=40))
def test_parsing_never_fails_with_anything_but_invalid_number(text: str) -> None:
    try:
        parsed = parse_number(text, "CN")
    except InvalidNumber as exc:
        assert exc.reason in NumberError
    else:
        assert parsed.e164.startswith("+") and parsed.e164[1:].isdigit()


@given(st.sampled_from(["CN", "US", "GB", "DE", "IN"]), st.text("0123456789", min_size=4,
                                                                 max_size=14))
def test_validity_and_zones_agree_with_phonenumbers(region: str, digits: str) -> None:
    """The one-type-lookup shortcut and the prefix cache change no answer."""
    import phonenumbers
    from phonenumbers import timezone

    try:
        reference = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return
    valid = phonenumbers.is_valid_number(reference)
    try:
        parsed = parse_number(digits, region)
    except InvalidNumber as exc:
        assert not valid or exc.reason is NumberError.PREMIUM_OR_SHARED
        return
    assert valid
    expected = tuple(z for z in timezone.time_zones_for_number(reference) if z != "Etc/Unknown")
    assert parsed.timezones == expected or parsed.timezones == ("Asia/Urumqi",)


# -- the plain-digits fast path is phonenumbers.parse ------------------------------------

_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
_PREFIXES = ["", "+", "0", "00", "86", "+86", "1", "011", "0086", "7", "39", "+39 0", "44",
             "+1", "8", "9"]


@st.composite
def plain_numbers(draw: st.DrawFn) -> tuple[str, str | None]:
    region = draw(st.sampled_from(["CN", "US", "GB", "IT", "DE", "CA", "BR", "RU", "IN",
                                   *_REGIONS]))
    if draw(st.booleans()):
        kind = draw(st.sampled_from(list(range(11))))
        example = phonenumbers.example_number_for_type(region, kind)
        if example is not None:
            fmt = draw(st.sampled_from([PhoneNumberFormat.E164, PhoneNumberFormat.NATIONAL,
                                        PhoneNumberFormat.INTERNATIONAL]))
            text = "".join(c for c in phonenumbers.format_number(example, fmt)
                           if c.isdigit() or c in "+ -")
            return text, region
    text = draw(st.sampled_from(_PREFIXES)) + draw(st.text("0123456789", max_size=18))
    if text and draw(st.booleans()):
        at = draw(st.integers(1, len(text)))
        text = text[:at] + draw(st.sampled_from([" ", "-"])) + text[at:]
    return text, draw(st.sampled_from([region, None])) if text.startswith("+") else region


@settings(max_examples=3000, deadline=None)
@given(plain_numbers())
def test_fast_path_builds_the_number_parse_builds(case: tuple[str, str | None]) -> None:
    text, region = case
    fast = numbers._parse_plain(text, region)
    if fast is None:
        return  # left to phonenumbers.parse
    assert phonenumbers.parse(text, region) == fast


@pytest.mark.parametrize(("text", "region"), [
    ("13800138000", "CN"), ("+8613800138000", None), ("008613800138000", "CN"),
    ("8613800138000", "CN"), ("+39 06 1234 5678", None), ("0612345678", "IT"),
    ("4155550123", "CA"), ("020 7946 0958", "GB"), ("+44 (0) 20 7946 0958", None),
])
def test_both_paths_agree_on_common_shapes(text: str, region: str | None) -> None:
    numbers._parse_cached.cache_clear()
    assert numbers._parse_uncached(text, region) == _slow(text, region)


def _slow(text: str, region: str | None) -> numbers.ParsedNumber:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(numbers, "_parse_plain", lambda *_: None)
        return numbers._parse_uncached(text, region)
