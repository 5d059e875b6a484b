"""The inbound configuration's checks and its Asterisk rendering, without Asterisk."""

from __future__ import annotations

import dataclasses
import re
from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cti.api.inbound_schemas import GroupPatch, GroupSettingsOut
from cti.db.inbound_repository import hours_from_json, hours_to_json
from cti.telephony import dialplan
from cti.telephony.defaults import default_config
from cti.telephony.inbound import (
    BusinessHours,
    GroupSettings,
    InboundConfig,
    IvrMenu,
    WeeklyWindow,
    WidenStep,
    clock,
    parse_clock,
    problems,
)


def config(*groups: GroupSettings, menus: tuple[IvrMenu, ...] = (),
           fallback: str = "sales") -> InboundConfig:
    return InboundConfig({g.name: g for g in groups}, {m.name: m for m in menus}, fallback)


SALES = GroupSettings("sales", numbers=("200",))
SUPPORT = GroupSettings("support", numbers=("300",))


def wheres(c: InboundConfig, music: list[str] | None = None) -> list[str]:
    return [p.where for p in problems(c, music)]


def test_the_default_configuration_is_valid_and_routes_200_and_300() -> None:
    c = default_config(wrapup_seconds=2, max_wait_seconds=60)
    assert problems(c) == []
    ext = dialplan.render(c, voicemail_pin="4242", sounds_dir="/s")["extensions.conf"]
    assert "exten => 200,1,Goto(cti-group-sales,s,1)" in ext
    assert "exten => 300,1,Goto(cti-group-support,s,1)" in ext
    assert "exten => _X.,1,Goto(cti-group-sales,s,1)" in ext  # unclaimed numbers
    assert "Queue(sales,t,,,60,,,)" in ext


def test_each_bad_setting_is_named() -> None:
    bad = dataclasses.replace(SALES, ring_seconds=0, retry_seconds=-1, wrapup_seconds=86_401,
                              max_wait_seconds=0, strategy="loudest", voicemail_box="a b",
                              no_answer_pause_after=-1)
    found = wheres(config(bad, SUPPORT))
    for name in ("ring_seconds", "retry_seconds", "wrapup_seconds", "max_wait_seconds",
                 "strategy", "voicemail_box", "no_answer_pause_after"):
        assert f"groups.sales.{name}" in found, name


def test_hours_need_a_known_zone_and_real_windows() -> None:
    hours = BusinessHours("Mars/Olympus", (WeeklyWindow(("mon", "funday"), time(18), time(9)),))
    found = wheres(config(dataclasses.replace(SALES, hours=hours), SUPPORT))
    assert "groups.sales.hours.timezone" in found
    # the server's own zone is no zone to keep a call centre's hours in
    local = dataclasses.replace(SALES, hours=BusinessHours("localtime", hours.weekly))
    assert "groups.sales.hours.timezone" in wheres(config(local, SUPPORT))
    assert "groups.sales.hours.weekly[0].days" in found
    assert "groups.sales.hours.weekly[0]" in found  # closes before it opens


def test_numbers_are_routed_once_and_menus_name_real_groups() -> None:
    menu = IvrMenu("main", "dir-welcome", {"1": "sales", "2": "billing"}, "nosuch",
                   numbers=("300",))
    found = problems(config(SALES, SUPPORT, menus=(menu,)))
    text = {(p.where, p.message) for p in found}
    assert ("menus.main.options.2", "unknown skill group 'billing'") in text
    assert ("menus.main.default_group", "unknown skill group 'nosuch'") in text
    assert any(w == "menus.main.numbers" and "already routed" in m for w, m in text)


def test_a_number_or_box_held_twice_is_blamed_on_what_the_change_is_about() -> None:
    """The request's own field is named, whichever comes first by name (b3 before
    billing, b3 before sales): the other group had it first."""
    billing = GroupSettings("billing", numbers=("400",))
    b3 = GroupSettings("b3", numbers=("400",))
    both = config(b3, billing, SALES, SUPPORT)  # by name, as load_config reads them
    assert [(p.where, p.message) for p in problems(both, changed="groups.b3")] == [
        ("groups.b3.numbers", "400 is already routed by groups.billing")]
    assert [(p.where, p.message) for p in problems(both, changed="groups.billing")] == [
        ("groups.billing.numbers", "400 is already routed by groups.b3")]
    boxed = config(dataclasses.replace(b3, numbers=(), voicemail_box="sales"), SALES, SUPPORT)
    assert [(p.where, p.message) for p in problems(boxed, changed="groups.b3")] == [
        ("groups.b3.voicemail_box", "box 'sales' already belongs to groups.sales")]
    menu = IvrMenu("amenu", "dir-welcome", {}, "sales", numbers=("300",))
    with_menu = config(SALES, SUPPORT, menus=(menu,))
    assert [p.where for p in problems(with_menu, changed="groups.support")] == [
        "groups.support.numbers"]
    assert [p.where for p in problems(with_menu, changed="menus.amenu")] == [
        "menus.amenu.numbers"]


def test_music_class_must_exist_when_the_classes_are_known() -> None:
    c = config(dataclasses.replace(SALES, music_class="calm"), SUPPORT)
    assert "groups.sales.music_class" in wheres(c, ["default"])
    assert wheres(c, ["default", "calm"]) == []


def test_widening_never_narrows_nor_comes_after_the_caller_has_left() -> None:
    group = dataclasses.replace(SALES, max_wait_seconds=120,
                                widen=(WidenStep(0, 3), WidenStep(60, 1), WidenStep(120, 9)))
    found = wheres(config(group, SUPPORT))
    assert "groups.sales.widen[1].max_level" in found  # 3 -> 1 narrows the pool
    assert "groups.sales.widen[2].after_seconds" in found  # at 120 s the caller is in voicemail
    fine = dataclasses.replace(group, widen=(WidenStep(0, 3), WidenStep(60, 3),
                                             WidenStep(119, 9)))
    assert wheres(config(fine, SUPPORT)) == []


def test_widening_starts_at_zero_and_grows() -> None:
    steps = (WidenStep(10, 1), WidenStep(5, 3))
    found = wheres(config(dataclasses.replace(SALES, widen=steps), SUPPORT))
    assert "groups.sales.widen[0].after_seconds" in found and "groups.sales.widen[1]" in found
    good = dataclasses.replace(SALES, widen=(WidenStep(0, 1), WidenStep(30, 5)))
    files = dialplan.render(config(good, SUPPORT), voicemail_pin="1234", sounds_dir="/s")
    assert "[cti-sales]\npenaltychange => 30,5" in files["queuerules.conf"]
    assert "defaultrule = cti-sales" in files["queues.conf"]
    assert "Set(QUEUE_MAX_PENALTY=1)" in files["extensions.conf"]


def test_business_hours_and_holidays_render_with_the_time_zone() -> None:
    hours = BusinessHours("Asia/Urumqi", (WeeklyWindow(("mon", "sat"), time(9), time(18)),),
                          (date(2027, 1, 1),))
    ext = dialplan.render(config(dataclasses.replace(SALES, hours=hours), SUPPORT),
                          voicemail_pin="1234", sounds_dir="/s")["extensions.conf"]
    assert "GotoIfTime(09:00-17:59,mon,*,*,Asia/Urumqi?open)" in ext
    assert "GotoIfTime(09:00-17:59,sat,*,*,Asia/Urumqi?open)" in ext
    assert '"${STRFTIME(${EPOCH},Asia/Urumqi,%Y-%m-%d)}" = "2027-01-01"]?closed' in ext
    assert "n(closed),Answer()" in ext and "VoiceMail(sales@groups,u)" in ext


def test_an_ivr_menu_renders_digits_timeout_and_invalid_paths() -> None:
    menu = IvrMenu("main", "dir-welcome", {"1": "sales", "2": "support"}, "sales",
                   timeout_seconds=4, max_invalid=2, numbers=("100",))
    ext = dialplan.render(config(SALES, SUPPORT, menus=(menu,)), voicemail_pin="1234",
                          sounds_dir="/s")["extensions.conf"]
    assert "exten => 100,1,Goto(cti-ivr-main,s,1)" in ext
    assert "WaitExten(4)" in ext
    assert "exten => 2,1,Goto(cti-group-support,s,1)" in ext
    assert "exten => t,1,Goto(cti-group-sales,s,1)" in ext
    assert "GotoIf($[${CTI_INVALID} >= 2]?cti-group-sales,s,1)" in ext


_names = st.from_regex(r"\A[a-z][a-z0-9_-]{1,12}\Z")


@given(names=st.lists(_names, min_size=1, max_size=6, unique=True),
       label=st.text(max_size=40))
def test_any_valid_configuration_renders_only_whitelisted_text(names: list[str],
                                                               label: str) -> None:
    """Free text (display names) never reaches a configuration line unfiltered."""
    groups = [GroupSettings(n, display_name=label, numbers=(f"{i + 10}",))
              for i, n in enumerate(names) if n not in {"general", "globals", "default"}]
    if not groups:
        return
    c = InboundConfig({g.name: g for g in groups}, {}, groups[0].name)
    assert problems(c) == []
    files = dialplan.render(c, voicemail_pin="1234", sounds_dir="/s")
    for text in files.values():
        for line in text.splitlines():
            assert "\r" not in line and "\0" not in line
    boxes = files["voicemail.conf"].splitlines()[2:]
    assert len(boxes) == len(groups)
    assert all(re.match(r"^[a-z0-9_-]+ => 1234,[\w ._-]*$", b) for b in boxes), boxes


# --- business hours: whole minutes as written, and a day open to its end (24:00) ---------

ALL_DAY = WeeklyWindow(("mon", "sun"), time(0), parse_clock("24:00"))


def test_a_window_closing_at_24_00_keeps_the_group_open_through_the_last_minute() -> None:
    """"Open all day" was at best 00:00-23:59, rendered 00:00-23:58: closed at 23:59."""
    assert ALL_DAY.closing_minute == 1440
    hours = BusinessHours("Europe/Paris", (ALL_DAY,))
    group = dataclasses.replace(SALES, hours=hours)
    assert problems(config(group, SUPPORT)) == []
    ext = dialplan.render(config(group, SUPPORT), voicemail_pin="1234",
                          sounds_dir="/s")["extensions.conf"]
    assert "GotoIfTime(00:00-23:59,mon,*,*,Europe/Paris?open)" in ext
    assert "GotoIfTime(00:00-23:59,sun,*,*,Europe/Paris?open)" in ext


def test_24_00_is_stored_and_shown_as_written() -> None:
    hours = BusinessHours("Europe/Paris", (ALL_DAY, WeeklyWindow(("sat",), time(9), time(18))))
    stored = hours_to_json(hours)
    assert stored is not None
    assert [(w["opens"], w["closes"]) for w in stored["weekly"]] == [("00:00", "24:00"),
                                                                     ("09:00", "18:00")]
    assert hours_from_json(stored) == hours
    out = GroupSettingsOut.of(dataclasses.replace(SALES, hours=hours)).hours
    assert out is not None and [(w.opens, w.closes) for w in out.weekly] == [
        ("00:00", "24:00"), ("09:00", "18:00")]
    assert clock(time(0)) == "00:00"  # an opening at midnight stays 00:00


def test_seconds_or_an_offset_in_a_stored_window_are_named_on_the_time() -> None:
    for opens in (time(9, 0, 30), time(9, tzinfo=ZoneInfo("Asia/Karachi"))):
        hours = BusinessHours("Europe/Paris", (WeeklyWindow(("mon",), opens, time(18)),))
        found = wheres(config(dataclasses.replace(SALES, hours=hours), SUPPORT))
        assert found == ["groups.sales.hours.weekly[0].opens"], opens


@pytest.mark.parametrize(("field", "value"), [
    ("opens", "09:00:30"), ("opens", "09:00+05:00"), ("opens", "09:00Z"),
    ("closes", "18:00:00"), ("closes", "18:00-03:00"), ("closes", "00:00"),
])
def test_a_request_with_seconds_or_an_offset_is_refused_naming_the_time(
    field: str, value: str
) -> None:
    """They were cut to "09:00" on the way to storage, so nothing ever saw them."""
    window = {"days": ["mon"], "opens": "09:00", "closes": "18:00", field: value}
    with pytest.raises(ValidationError) as caught:
        GroupPatch.model_validate({"hours": {"timezone": "Europe/Paris", "weekly": [window]}})
    assert [e["loc"] for e in caught.value.errors()] == [("hours", "weekly", 0, field)]


def test_a_request_may_close_a_window_at_24_00() -> None:
    patch = GroupPatch.model_validate({"hours": {"timezone": "Europe/Paris", "weekly": [
        {"days": ["mon"], "opens": "00:00", "closes": "24:00"}]}})
    changed = patch.apply(SALES)
    assert changed.hours is not None and changed.hours.weekly[0] == WeeklyWindow(
        ("mon",), time(0), time(0))
    assert changed.hours.weekly[0].closing_minute == 1440


# --- voicemail boxes with messages that no group uses any more ----------------------------

def test_a_box_holding_messages_that_no_group_uses_stays_in_voicemail_conf() -> None:
    moved = dataclasses.replace(SUPPORT, voicemail_box="support2")
    conf = dialplan.render(config(SALES, moved), voicemail_pin="1234", sounds_dir="/s",
                           boxes_with_messages=["sales", "support", "support2"]
                           )["voicemail.conf"].splitlines()
    assert conf[1:] == ["[groups]", "sales => 1234,sales", "support2 => 1234,support",
                        "support => 1234,Messages kept"]
