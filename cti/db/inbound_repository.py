"""Skill-group settings, IVR menus and pause reasons: rows <-> :mod:`cti.telephony.inbound`.

The caller owns the transaction (the configurator changes, checks and applies in one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.models import IvrMenu, PauseReason, SkillGroup, SkillGroupMember
from cti.telephony.inbound import (
    BusinessHours,
    GroupSettings,
    InboundConfig,
    WeeklyWindow,
    WidenStep,
    clock,
    parse_clock,
)
from cti.telephony.inbound import (
    IvrMenu as MenuConfig,
)


def hours_to_json(hours: BusinessHours | None) -> dict[str, Any] | None:
    if hours is None:
        return None
    return {
        "timezone": hours.timezone,
        "weekly": [
            {"days": list(w.days), "opens": clock(w.opens),
             "closes": clock(w.closes, closing=True)}
            for w in hours.weekly
        ],
        "holidays": [d.isoformat() for d in hours.holidays],
    }


def hours_from_json(data: Mapping[str, Any] | None) -> BusinessHours | None:
    if data is None:
        return None
    return BusinessHours(
        timezone=data["timezone"],
        weekly=tuple(
            WeeklyWindow(tuple(w["days"]), parse_clock(w["opens"]), parse_clock(w["closes"]))
            for w in data["weekly"]
        ),
        holidays=tuple(date.fromisoformat(d) for d in data.get("holidays", [])),
    )


def group_from_row(row: SkillGroup) -> GroupSettings:
    return GroupSettings(
        name=row.name,
        display_name=row.display_name,
        strategy=row.strategy,
        ring_seconds=row.ring_seconds,
        retry_seconds=row.retry_seconds,
        wrapup_seconds=row.wrapup_seconds,
        max_wait_seconds=row.max_wait_seconds,
        music_class=row.music_class,
        voicemail_box=row.voicemail_box,
        hours=hours_from_json(row.hours),
        after_hours_prompt=row.after_hours_prompt,
        widen=tuple(WidenStep(s["after_seconds"], s["max_level"]) for s in row.widen),
        no_answer_pause_after=row.no_answer_pause_after,
        numbers=tuple(row.numbers),
    )


def group_values(g: GroupSettings) -> dict[str, Any]:
    return {
        "display_name": g.display_name,
        "strategy": g.strategy,
        "ring_seconds": g.ring_seconds,
        "retry_seconds": g.retry_seconds,
        "wrapup_seconds": g.wrapup_seconds,
        "max_wait_seconds": g.max_wait_seconds,
        "music_class": g.music_class,
        "voicemail_box": g.voicemail_box,
        "hours": hours_to_json(g.hours),
        "after_hours_prompt": g.after_hours_prompt,
        "widen": [{"after_seconds": s.after_seconds, "max_level": s.max_level} for s in g.widen],
        "no_answer_pause_after": g.no_answer_pause_after,
        "numbers": list(g.numbers),
    }


def menu_from_row(row: IvrMenu) -> MenuConfig:
    return MenuConfig(
        name=row.name,
        greeting=row.greeting,
        options={str(k): str(v) for k, v in row.options.items()},
        default_group=row.default_group,
        timeout_seconds=row.timeout_seconds,
        max_invalid=row.max_invalid,
        numbers=tuple(row.numbers),
        catch_all=row.catch_all,
    )


def menu_values(m: MenuConfig) -> dict[str, Any]:
    return {
        "greeting": m.greeting,
        "options": dict(m.options),
        "default_group": m.default_group,
        "timeout_seconds": m.timeout_seconds,
        "max_invalid": m.max_invalid,
        "numbers": list(m.numbers),
        "catch_all": m.catch_all,
    }


async def load_config(session: AsyncSession, fallback_group: str) -> InboundConfig:
    groups = (await session.scalars(select(SkillGroup).order_by(SkillGroup.name))).all()
    menus = (await session.scalars(select(IvrMenu).order_by(IvrMenu.name))).all()
    return InboundConfig(
        groups={g.name: group_from_row(g) for g in groups},
        menus={m.name: menu_from_row(m) for m in menus},
        fallback_group=fallback_group,
    )


async def lock_config(session: AsyncSession) -> None:
    """Serialise configuration changes across service replicas for this transaction."""
    await session.execute(select(func.pg_advisory_xact_lock(0x637469_02)))


async def insert_group(session: AsyncSession, g: GroupSettings, node: str) -> None:
    session.add(SkillGroup(name=g.name, node=node, **group_values(g)))
    await session.flush()


async def update_group(session: AsyncSession, g: GroupSettings) -> None:
    await session.execute(
        update(SkillGroup).where(SkillGroup.name == g.name)
        .values(**group_values(g), updated_at=func.now())
    )


async def get_group(session: AsyncSession, name: str, *, for_update: bool = False
                    ) -> GroupSettings | None:
    stmt = select(SkillGroup).where(SkillGroup.name == name)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.scalars(stmt)).first()
    return None if row is None else group_from_row(row)


async def delete_group(session: AsyncSession, name: str) -> bool:
    result = await session.execute(
        delete(SkillGroup).where(SkillGroup.name == name).returning(SkillGroup.name)
    )
    return result.first() is not None


async def menus_using(session: AsyncSession, group: str) -> list[str]:
    """Menus that send callers to ``group`` (as an option or as their default)."""
    rows = (await session.scalars(select(IvrMenu))).all()
    return [m.name for m in rows
            if m.default_group == group or group in {str(v) for v in m.options.values()}]


async def get_menu(session: AsyncSession, name: str) -> MenuConfig | None:
    row = await session.get(IvrMenu, name)
    return None if row is None else menu_from_row(row)


async def put_menu(session: AsyncSession, m: MenuConfig) -> bool:
    """Create or replace a menu; True when it was created."""
    row = await session.get(IvrMenu, m.name)
    if row is None:
        session.add(IvrMenu(name=m.name, **menu_values(m)))
        await session.flush()
        return True
    await session.execute(
        update(IvrMenu).where(IvrMenu.name == m.name)
        .values(**menu_values(m), updated_at=func.now())
    )
    return False


async def delete_menu(session: AsyncSession, name: str) -> bool:
    result = await session.execute(
        delete(IvrMenu).where(IvrMenu.name == name).returning(IvrMenu.name)
    )
    return result.first() is not None


async def existing_groups(session: AsyncSession, names: Iterable[str]) -> set[str]:
    """Which of ``names`` are configured skill groups."""
    rows = await session.scalars(select(SkillGroup.name).where(SkillGroup.name.in_(set(names))))
    return set(rows)


async def member_levels(session: AsyncSession, seat_id: str) -> dict[str, int]:
    """The groups a seat is configured in, with its skill level (queue penalty) in each."""
    rows = await session.execute(
        select(SkillGroupMember.skill_group, SkillGroupMember.penalty)
        .where(SkillGroupMember.seat_id == seat_id)
    )
    return {group: penalty for group, penalty in rows}


async def pause_reasons(session: AsyncSession) -> list[tuple[str, str, bool]]:
    rows = await session.execute(
        select(PauseReason.code, PauseReason.label, PauseReason.system).order_by(PauseReason.code)
    )
    return [(code, label, system) for code, label, system in rows]


async def ensure_pause_reasons(session: AsyncSession,
                               reasons: Iterable[tuple[str, str, bool]]) -> int:
    """Add the reasons missing by code; the ones present keep their label. Returns how
    many were added."""
    have = {code for code, _, _ in await pause_reasons(session)}
    added = [PauseReason(code=c, label=lbl, system=sys) for c, lbl, sys in reasons
             if c not in have]
    session.add_all(added)
    await session.flush()
    return len(added)
