"""Names given from outside: time zones must be IANA zones, and a caller ID a number the
plan has, in the E.164 form the trunk is sent."""

from __future__ import annotations

import pytest

from dialer.numbers import (
    CALLER_ID_E164,
    InvalidNumber,
    InvalidTimezone,
    NumberError,
    TimezoneError,
    caller_id_e164,
    iana_names,
    iana_zone,
    is_timezone,
    parse_number,
    resolve_timezones,
    zone,
)

NOT_IANA = ["localtime", "Factory", "posixrules", "posix/Asia/Shanghai", "right/UTC",
            "right/Asia/Shanghai", "zone.tab", "tzdata.zi"]


@pytest.mark.parametrize("name", NOT_IANA)
def test_names_the_zone_database_holds_but_iana_does_not_are_refused(name: str) -> None:
    assert not is_timezone(name)
    with pytest.raises(InvalidTimezone) as caught:
        resolve_timezones(name, parse_number("13800138000", "CN"), None)
    assert caught.value.reason is TimezoneError.UNKNOWN  # an import's row error


def test_a_campaign_default_that_is_not_iana_is_refused_for_a_lead_too() -> None:
    freephone = parse_number("+80012345678")  # international: phonenumbers gives no zone
    assert freephone.timezones == ()
    assert resolve_timezones(None, freephone, "Asia/Shanghai") == ("Asia/Shanghai",)
    with pytest.raises(InvalidTimezone) as caught:
        resolve_timezones(None, freephone, "localtime")
    assert caught.value.reason is TimezoneError.UNKNOWN


@pytest.mark.parametrize("name", ["Asia/Shanghai", "Asia/Urumqi", "America/New_York", "UTC",
                                  "Etc/GMT-8", "PRC", "US/Eastern", "Asia/Calcutta"])
def test_iana_zones_and_their_backward_links_are_accepted(name: str) -> None:
    assert is_timezone(name)
    assert iana_zone(name) is zone(name)


def test_the_zone_list_is_read_once() -> None:
    assert iana_names() is iana_names()
    assert "Asia/Shanghai" in iana_names() and "localtime" not in iana_names()


def test_a_zone_stored_before_still_loads() -> None:
    """Leads stored with "localtime" before it was refused are still dialed in it."""
    assert zone("localtime") is not None


@pytest.mark.parametrize(("raw", "region", "e164"), [
    ("4008001234", "CN", "+864008001234"),  # shared cost: what call centres show
    ("8008101234", "CN", "+868008101234"),  # toll free
    ("021 6123 4567", "CN", "+862161234567"),
    ("13800138000", "CN", "+8613800138000"),
    ("+14155550100", None, "+14155550100"),
    ("020 7946 0000", "GB", "+442079460000"),
])
def test_a_caller_id_is_any_number_of_the_plan_in_e164(
    raw: str, region: str | None, e164: str
) -> None:
    assert caller_id_e164(raw, region) == e164
    assert CALLER_ID_E164.fullmatch(e164)


@pytest.mark.parametrize(("raw", "region", "reason"), [
    ("+0000000000", "CN", NumberError.INVALID_COUNTRY_CODE),
    ("123", "CN", NumberError.TOO_SHORT),
    ("95588", "CN", NumberError.INVALID),
    ("+4008001234", "CN", NumberError.INVALID),
    ("09011234567", "GB", NumberError.PREMIUM_RATE),
    ("", "CN", NumberError.EMPTY),
])
def test_a_caller_id_the_plan_does_not_have_is_refused(
    raw: str, region: str, reason: NumberError
) -> None:
    with pytest.raises(InvalidNumber) as caught:
        caller_id_e164(raw, region)
    assert caught.value.reason is reason and str(caught.value)
