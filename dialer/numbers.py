"""Phone numbers: parse, normalise to E.164, and find the time zone(s) a number rings in.

Pure functions over strings (phonenumbers' metadata is read-only data, no I/O per call).

A campaign's caller ID is read by :func:`caller_id_e164`: any number of the numbering
plan (service numbers too), in the E.164 form the Asterisk adapter sends.

Time zones come, in order of preference, from the lead's own ``timezone`` field, from the
number (phonenumbers' prefix data, then regional practice), then from the campaign's
default. A number that phonenumbers places in several zones keeps them all (the calling
window must then be open in every one of them), unless they are so far apart that no
sensible window fits: then the row is rejected as ``ambiguous_timezone`` and the importer
is asked for a ``timezone`` column, rather than the lead silently never being dialed.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import ModuleType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import phonenumberutil as pnu
from phonenumbers import timezone as pn_timezone
from phonenumbers import tzdata as pn_tzdata
from phonenumbers.phonemetadata import PhoneMetadata

MAX_INPUT_LENGTH = 64  # longer strings are not phone numbers, whatever they contain

# Where practice differs from the zone phonenumbers gives: Xinjiang keeps UTC+6 in daily
# life although China officially has one zone (REQUIREMENTS.md). Keyed by the number's
# region and a word of its English geocoder description.
REGIONAL_PRACTICE: tuple[tuple[str, str, str], ...] = (("CN", "Xinjiang", "Asia/Urumqi"),)

# Zones whose UTC offsets differ by more than this cannot share a calling window.
MAX_ZONE_SPREAD = timedelta(hours=3)
# Offsets are compared in winter and in summer, so DST does not hide a spread.
_REFERENCE_INSTANTS = (datetime(2025, 1, 15, 12, tzinfo=UTC), datetime(2025, 7, 15, 12, tzinfo=UTC))


class NumberError(enum.StrEnum):
    """Why a string is not a number we may dial. The values are stable report codes."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    NOT_A_NUMBER = "not_a_number"
    INVALID_COUNTRY_CODE = "invalid_country_code"
    TOO_SHORT = "too_short"
    TOO_LONG_NUMBER = "too_long_number"
    INVALID = "invalid_number"
    PREMIUM_OR_SHARED = "premium_or_shared_cost"
    PREMIUM_RATE = "premium_rate"


_MESSAGES = {
    NumberError.EMPTY: "no number given",
    NumberError.TOO_LONG: f"longer than {MAX_INPUT_LENGTH} characters",
    NumberError.NOT_A_NUMBER: "does not look like a phone number",
    NumberError.INVALID_COUNTRY_CODE: "unknown country calling code (or no default region)",
    NumberError.TOO_SHORT: "too short for its country",
    NumberError.TOO_LONG_NUMBER: "too long for its country",
    NumberError.INVALID: "not a valid number in its country's numbering plan",
    NumberError.PREMIUM_OR_SHARED: "premium-rate or shared-cost numbers are not dialed",
    NumberError.PREMIUM_RATE: "a premium-rate number may not be shown to customers",
}

#: A caller ID the Asterisk adapter lets through (``cti.ami.actions``): E.164.
CALLER_ID_E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")


class InvalidNumber(ValueError):
    def __init__(self, reason: NumberError) -> None:
        super().__init__(_MESSAGES[reason])
        self.reason = reason


class TimezoneError(enum.StrEnum):
    UNKNOWN = "unknown_timezone"
    AMBIGUOUS = "ambiguous_timezone"
    MISSING = "no_timezone"


class InvalidTimezone(ValueError):
    def __init__(self, reason: TimezoneError, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    e164: str  # '+8613800138000'
    region: str | None  # 'CN'; None for non-geographic numbers
    number_type: str  # 'mobile', 'fixed_line', ...
    timezones: tuple[str, ...]  # from the number; empty when phonenumbers does not know


_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
    PhoneNumberType.UNKNOWN: "unknown",
}
_NOT_DIALED = {PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST}
_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: NumberError.INVALID_COUNTRY_CODE,
    NumberParseException.NOT_A_NUMBER: NumberError.NOT_A_NUMBER,
    NumberParseException.TOO_SHORT_AFTER_IDD: NumberError.TOO_SHORT,
    NumberParseException.TOO_SHORT_NSN: NumberError.TOO_SHORT,
    NumberParseException.TOO_LONG: NumberError.TOO_LONG_NUMBER,
}
_POSSIBLE_ERRORS = {
    phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: NumberError.INVALID_COUNTRY_CODE,
    phonenumbers.ValidationResult.TOO_SHORT: NumberError.TOO_SHORT,
    phonenumbers.ValidationResult.TOO_LONG: NumberError.TOO_LONG_NUMBER,
    phonenumbers.ValidationResult.INVALID_LENGTH: NumberError.INVALID,
}


def is_region(code: str) -> bool:
    """True for a region phonenumbers knows ('CN', 'GB'...)."""
    return code in phonenumbers.SUPPORTED_REGIONS


def parse_number(raw: str, default_region: str | None = None) -> ParsedNumber:
    """Parse ``raw`` (national with ``default_region``, or international) to E.164.

    Raises :class:`InvalidNumber` naming the reason. Results are cached per distinct
    (string, region): a list's repeated numbers are parsed once.
    """
    found = _parse_cached(raw, default_region)
    if isinstance(found, NumberError):
        raise InvalidNumber(found)
    return found


PARSE_CACHE_SIZE = 4_096  # about 2 MB: repeats close together in a list, retries


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _parse_cached(raw: str, default_region: str | None) -> ParsedNumber | NumberError:
    try:
        return _parse_uncached(raw, default_region)
    except InvalidNumber as exc:
        return exc.reason


def _typed_text(raw: str) -> str:
    """What was typed, trimmed; refused empty or absurdly long."""
    text = raw.strip()
    if not text:
        raise InvalidNumber(NumberError.EMPTY)
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidNumber(NumberError.TOO_LONG)
    return text


def _parse_slow(text: str, default_region: str | None) -> phonenumbers.PhoneNumber:
    try:
        return phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        raise InvalidNumber(_PARSE_ERRORS.get(exc.error_type, NumberError.NOT_A_NUMBER)
                            ) from exc


def _plan_type(number: phonenumbers.PhoneNumber) -> int:
    """The number's type in its region's plan; refused when it has none (not possible,
    or not valid)."""
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible in _POSSIBLE_ERRORS:
        raise InvalidNumber(_POSSIBLE_ERRORS[possible])
    # is_valid_number is exactly "its region's plan gives it a type": one type lookup
    # (the costly part of phonenumbers) serves both questions.
    kind: int = phonenumbers.number_type(number)
    if kind == PhoneNumberType.UNKNOWN:
        raise InvalidNumber(NumberError.INVALID)
    return kind


def _parse_uncached(raw: str, default_region: str | None) -> ParsedNumber:
    text = _typed_text(raw)
    if text.startswith("00") and default_region is None:
        text = "+" + text[2:]  # the common international prefix, without a region to say so
    number = _parse_plain(text, default_region)
    if number is None:
        number = _parse_slow(text, default_region)
    kind = _plan_type(number)
    if kind in _NOT_DIALED:
        raise InvalidNumber(NumberError.PREMIUM_OR_SHARED)
    region = phonenumbers.region_code_for_number(number)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return ParsedNumber(
        e164=e164,
        region=region if region and region != "001" else None,
        number_type=_TYPE_NAMES.get(kind, "unknown"),
        timezones=_cached_timezones(number, region, kind, e164),
    )


def caller_id_e164(raw: str, default_region: str | None) -> str:
    """``raw``, the number a campaign shows the customers it calls, in E.164 (national in
    ``default_region``, or international). Any number the plan has, service numbers
    (400, 800...) included, since those are what call centres show; not a premium-rate
    one. Raises :class:`InvalidNumber` naming the reason."""
    number = _parse_slow(_typed_text(raw), default_region)
    if _plan_type(number) == PhoneNumberType.PREMIUM_RATE:
        raise InvalidNumber(NumberError.PREMIUM_RATE)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if CALLER_ID_E164.fullmatch(e164) is None:  # a plan's number longer than E.164 allows
        raise InvalidNumber(NumberError.TOO_LONG_NUMBER)
    return e164


# -- the fast path -------------------------------------------------------------------
#
# Most lists hold plain digits ("13800138000", "+8613800138000", "138-0013-8000").
# phonenumbers.parse spends two thirds of its time on what such strings never need
# (Unicode digit normalisation, twice; vanity letters; extensions; phone-context). For
# them, _parse_plain runs the rest of parse's steps in parse's order with parse's own
# metadata helpers (IDD and country-code extraction, national-prefix and carrier-code
# stripping, the length tests), so the PhoneNumber is the one parse would build; validity
# is still decided by the same metadata afterwards. Any case it does not take on (no
# region, an unknown country code, a string too short or too long) goes to the full
# parse, which also names every error. tests/unit/dialer/test_numbers.py compares both
# paths on generated strings.

_PLAIN = re.compile(r"\+?[0-9][0-9 -]*")
_NO_STRIP = (
    phonenumbers.ValidationResult.TOO_SHORT,
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    phonenumbers.ValidationResult.INVALID_LENGTH,
)


@lru_cache(maxsize=512)
def _idd_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(prefix)


def _parse_plain(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """``phonenumbers.parse(text, region)`` for ASCII digits with spaces or hyphens and an
    optional leading '+'; None when the full parse must decide."""
    if not text.isascii() or _PLAIN.fullmatch(text) is None:
        return None
    plus = text[0] == "+"
    digits = text.lstrip("+").replace(" ", "").replace("-", "")
    if not 3 <= len(digits) <= pnu._MAX_LENGTH_FOR_NSN:
        return None
    metadata = None if region is None else PhoneMetadata.metadata_for_region(region, None)
    extracted = True  # parse takes the number's metadata only for a code it extracted
    if plus:
        code, national = pnu._extract_country_code(digits)
    else:
        if metadata is None:
            return None
        idd = metadata.international_prefix
        stripped, rest = (False, digits) if idd is None else pnu._parse_prefix_as_idd(
            _idd_pattern(idd), digits)
        if stripped:
            if len(rest) <= pnu._MIN_LENGTH_FOR_NSN:
                return None
            code, national = pnu._extract_country_code(rest)
        else:
            code, national, extracted = _default_country_code(digits, metadata)
    if code == 0:
        return None
    number_region = pnu.region_code_for_country_code(code)
    if extracted and number_region != region:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, number_region)
    if metadata is None or len(national) < pnu._MIN_LENGTH_FOR_NSN:
        return None
    _, potential, _ = pnu._maybe_strip_national_prefix_carrier_code(national, metadata)
    if pnu._test_number_length(potential, metadata) not in _NO_STRIP:
        national = potential
    if not pnu._MIN_LENGTH_FOR_NSN <= len(national) <= pnu._MAX_LENGTH_FOR_NSN:
        return None
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    pnu._set_italian_leading_zeros_for_phone_number(national, number)
    return number


def _default_country_code(digits: str, metadata: PhoneMetadata) -> tuple[int, str, bool]:
    """parse's reading of a number without '+' or IDD: the region's own country code,
    written in front of the national number (extracted: True) or not."""
    code = metadata.country_code
    assert code is not None
    prefix = str(code)
    if digits.startswith(prefix):
        general = metadata.general_desc
        _, potential, _ = pnu._maybe_strip_national_prefix_carrier_code(
            digits[len(prefix):], metadata)
        if ((not pnu._match_national_number(digits, general, False)
             and pnu._match_national_number(potential, general, False))
                or pnu._test_number_length(digits, metadata)
                == phonenumbers.ValidationResult.TOO_LONG):
            return code, potential, True
    return code, digits, False


# phonenumbers finds zones from at most the first TIMEZONE_LONGEST_PREFIX digits (country
# code included) and the number's type, and places from GEOCODE_LONGEST_PREFIX, so those
# are a safe cache key: a million numbers share a few thousand keys. Places are read only
# for the regions REGIONAL_PRACTICE names, and the geocoder is loaded only then: its data
# takes 0.4 s to import, paid by every process start (the service, each CLI command).
_PRACTICE_REGIONS = frozenset(region for region, _, _ in REGIONAL_PRACTICE)
_TZ_CACHE: dict[tuple[str, int, str | None], tuple[str, ...]] = {}
_TZ_CACHE_MAX = 200_000


def _cached_timezones(
    number: phonenumbers.PhoneNumber, region: str | None, kind: int, e164: str
) -> tuple[str, ...]:
    digits = _geocoder().GEOCODE_LONGEST_PREFIX if region in _PRACTICE_REGIONS else 0
    key = (e164[1 : 1 + max(pn_tzdata.TIMEZONE_LONGEST_PREFIX, digits)], kind, region)
    zones = _TZ_CACHE.get(key)
    if zones is None:
        if len(_TZ_CACHE) >= _TZ_CACHE_MAX:
            _TZ_CACHE.clear()
        zones = _TZ_CACHE[key] = _number_timezones(number, region)
    return zones


@lru_cache(maxsize=1)
def _geocoder() -> ModuleType:
    from phonenumbers import geocoder

    return geocoder


def _number_timezones(number: phonenumbers.PhoneNumber, region: str | None) -> tuple[str, ...]:
    zones = tuple(z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    practice = [(word, zone) for r, word, zone in REGIONAL_PRACTICE if r == region]
    if practice:
        description = _geocoder().description_for_number(number, "en")
        for word, zone in practice:
            if word in description:
                return (zone,)
    return zones


#: Names the system's zone database holds that are not IANA zones: the host's own zone
#: (``localtime``), a template (``posixrules``), "no zone set" (``Factory``), and the
#: trees of the same zones again (``posix/``) or counting leap seconds (``right/``).
NOT_IANA = frozenset({"localtime", "posixrules", "Factory"})
NOT_IANA_TREES = ("posix/", "right/")


@lru_cache(maxsize=1)
def iana_names() -> frozenset[str]:
    """The IANA zone names (and their backward links: ``PRC``, ``US/Eastern``) known here.
    Read from the zone database once, on first use (it walks a directory tree)."""
    return frozenset(n for n in available_timezones()
                     if n not in NOT_IANA and not n.startswith(NOT_IANA_TREES))


def iana_zone(name: str) -> ZoneInfo:
    """:func:`zone` for a name given from outside (a campaign, an import): only an IANA
    zone; raises :class:`InvalidTimezone` otherwise. :func:`zone` itself loads whatever
    was stored before."""
    if name not in iana_names():
        raise InvalidTimezone(TimezoneError.UNKNOWN, f"unknown time zone {name[:64]!r}"
                              + (": not an IANA zone" if name in NOT_IANA else ""))
    return zone(name)


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises :class:`InvalidTimezone` when unknown."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        raise InvalidTimezone(TimezoneError.UNKNOWN, f"unknown time zone {name[:64]!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTimezone(TimezoneError.UNKNOWN, f"unknown time zone {name!r}") from exc


def is_timezone(name: str) -> bool:
    """True for an IANA zone name (:func:`iana_zone`)."""
    try:
        iana_zone(name)
    except InvalidTimezone:
        return False
    return True


def zone_spread(names: tuple[str, ...]) -> timedelta:
    """The widest difference of UTC offsets among ``names`` (winter or summer)."""
    widest = timedelta(0)
    for instant in _REFERENCE_INSTANTS:
        offsets = [instant.astimezone(zone(n)).utcoffset() or timedelta(0) for n in names]
        widest = max(widest, max(offsets) - min(offsets))
    return widest


def resolve_timezones(
    given: str | None, number: ParsedNumber, campaign_default: str | None
) -> tuple[str, ...]:
    """The zone(s) a lead is called in. See the module docstring for the order.

    Raises :class:`InvalidTimezone` (unknown, ambiguous or missing).
    """
    if given:
        iana_zone(given)
        return (given,)
    zones = tuple(z for z in number.timezones if is_timezone(z))
    if len(zones) > 1 and campaign_default in zones:
        return (campaign_default,)
    if len(zones) > 1 and zone_spread(zones) > MAX_ZONE_SPREAD:
        raise InvalidTimezone(
            TimezoneError.AMBIGUOUS,
            f"the number spans {len(zones)} time zones ({zones[0]} .. {zones[-1]}); "
            "give a timezone for this lead",
        )
    if zones:
        return zones
    if campaign_default:
        iana_zone(campaign_default)
        return (campaign_default,)
    raise InvalidTimezone(TimezoneError.MISSING, "no time zone known for this number")
