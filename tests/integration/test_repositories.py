"""Repositories against a real, migrated PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db import repositories as repo
from cti.db.models import ApiToken, CallEventRow, CallRow, SeatStateLogRow

pytestmark = pytest.mark.integration

T0 = datetime(2025, 11, 25, 9, 0, tzinfo=UTC)


def _call(n: int, *, customer: str, seat: str | None) -> CallRow:
    start = T0 + timedelta(minutes=n)
    return CallRow(
        id=f"node1:{n}",
        node="node1",
        linkedid=str(n),
        direction="inbound",
        state="ended",
        customer_number=customer,
        skill_group="support",
        seat_id=seat,
        started_at=start,
        ended_at=start + timedelta(seconds=90),
        talk_seconds=80,
        abandoned=seat is None,
        updated_at=start + timedelta(seconds=90),
    )


@pytest.fixture
async def calls(db_session: AsyncSession) -> None:
    """12 calls, one a minute: customers alternate A/B, seats 1001/1002/None in turn."""
    seats = ["1001", "1002", None]
    db_session.add_all(
        _call(n, customer="+491111" if n % 2 else "+492222", seat=seats[n % 3]) for n in range(12)
    )
    await db_session.commit()


@pytest.mark.usefixtures("calls")
async def test_list_calls_newest_first_with_total(db_session: AsyncSession) -> None:
    page, total = await repo.list_calls(db_session, limit=5, offset=0)
    assert total == 12
    assert [c.id for c in page] == [f"node1:{n}" for n in (11, 10, 9, 8, 7)]
    page2, total2 = await repo.list_calls(db_session, limit=5, offset=10)
    assert total2 == 12
    assert [c.id for c in page2] == ["node1:1", "node1:0"]
    assert isinstance(page[0], repo.CallRecord)


@pytest.mark.usefixtures("calls")
async def test_list_calls_filters(db_session: AsyncSession) -> None:
    by_customer, total = await repo.list_calls(db_session, customer_number="+491111", limit=50)
    assert total == 6
    assert all(c.customer_number == "+491111" for c in by_customer)

    by_seat, total = await repo.list_calls(db_session, seat_id="1002", limit=50)
    assert [c.id for c in by_seat] == ["node1:10", "node1:7", "node1:4", "node1:1"]
    assert total == 4

    window, total = await repo.list_calls(
        db_session,
        since=T0 + timedelta(minutes=3),
        until=T0 + timedelta(minutes=6),
        limit=2,
    )
    assert total == 3  # minutes 3, 4, 5 (until is exclusive)
    assert [c.id for c in window] == ["node1:5", "node1:4"]

    both, total = await repo.list_calls(
        db_session, customer_number="+492222", seat_id="1001", limit=50
    )
    assert [c.id for c in both] == ["node1:6", "node1:0"]

    rest, total = await repo.list_calls(
        db_session, seat_id="1001", exclude_ids={"node1:9", "node1:3"}, limit=50
    )
    assert [c.id for c in rest] == ["node1:6", "node1:0"]
    assert total == 2


@pytest.mark.usefixtures("calls")
async def test_get_call_and_timeline(db_session: AsyncSession) -> None:
    record = await repo.get_call(db_session, "node1:2")
    assert record is not None
    assert record.seat_id is None and record.abandoned
    assert record.started_at == T0 + timedelta(minutes=2)
    assert await repo.get_call(db_session, "node1:999") is None

    db_session.add_all(
        [
            CallEventRow(call_id="node1:3", kind="hangup", at=T0 + timedelta(seconds=9)),
            CallEventRow(call_id="node1:3", kind="queued", at=T0, detail={"position": 1}),
            CallEventRow(call_id="node1:3", kind="ring", at=T0 + timedelta(seconds=2)),
            CallEventRow(call_id="node1:3", kind="no_answer", at=T0 + timedelta(seconds=2)),
            CallEventRow(call_id="node1:4", kind="other call", at=T0),
        ]
    )
    await db_session.commit()
    timeline = await repo.call_timeline(db_session, "node1:3")
    assert [e.kind for e in timeline] == ["queued", "ring", "no_answer", "hangup"]
    assert timeline[0].detail == {"position": 1}


async def test_seats_and_skill_groups(db_session: AsyncSession) -> None:
    await repo.upsert_seat(db_session, "1002", node="node1", interface="PJSIP/1002")
    await repo.upsert_seat(db_session, "1001", node="node1", interface="PJSIP/1001")
    updated = await repo.upsert_seat(
        db_session, "1001", node="node1", interface="PJSIP/1001", display_name="Alice"
    )
    assert updated.display_name == "Alice"
    await repo.upsert_skill_group(db_session, "support", node="node1", display_name="Support")
    await repo.upsert_skill_group(db_session, "empty", node="node1")
    await repo.set_skill_group_member(db_session, "support", "1002", penalty=2)
    await repo.set_skill_group_member(db_session, "support", "1001", penalty=5)
    await repo.set_skill_group_member(db_session, "support", "1001", penalty=1)  # change level
    with pytest.raises(ValueError, match="penalty"):
        await repo.set_skill_group_member(db_session, "support", "1001", penalty=-1)

    seats = await repo.list_seats(db_session)
    assert [(s.id, s.display_name) for s in seats] == [("1001", "Alice"), ("1002", None)]
    groups = await repo.list_skill_groups(db_session)
    assert [g.name for g in groups] == ["empty", "support"]
    assert groups[0].members == ()
    assert groups[1].members == (
        repo.SkillGroupMemberRecord("1001", 1),
        repo.SkillGroupMemberRecord("1002", 2),
    )
    assert await repo.remove_skill_group_member(db_session, "support", "1002")
    assert not await repo.remove_skill_group_member(db_session, "support", "1002")
    group = await repo.get_skill_group(db_session, "support")
    assert group is not None and [m.seat_id for m in group.members] == ["1001"]


async def test_token_lifecycle_stores_only_the_hash(db_session: AsyncSession) -> None:
    token = await repo.create_token(db_session, "alice", "agent", "desk", seat_id="1001")
    assert token.startswith("cti_") and len(token) > 40

    stored = (await db_session.scalars(select(ApiToken))).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith(stored.prefix) and len(stored.prefix) < len(token)
    dump = await db_session.scalar(text("SELECT string_agg(t::text, ' ') FROM api_tokens t"))
    assert dump is not None and token not in dump and token[len(stored.prefix) :] not in dump

    principal = await repo.authenticate(db_session, token)
    assert principal == repo.Principal(
        user_id=stored.user_id, username="alice", role="agent", seat_id="1001", token_id=stored.id
    )
    assert await repo.authenticate(db_session, token + "x") is None
    assert await repo.authenticate(db_session, "") is None
    [listed] = await repo.list_tokens(db_session, "alice")
    assert listed.last_used_at is not None and listed.revoked_at is None

    assert await repo.revoke_token(db_session, token=token)
    assert await repo.authenticate(db_session, token) is None
    assert not await repo.revoke_token(db_session, token=token)


async def test_users_are_get_or_create_and_roles_checked(db_session: AsyncSession) -> None:
    first = await repo.create_user(db_session, "bob", "agent")
    again = await repo.create_user(db_session, "bob", "supervisor", seat_id="1002")
    assert again.id == first.id
    assert (again.role, again.seat_id) == ("supervisor", "1002")
    with pytest.raises(ValueError, match="role"):
        await repo.create_user(db_session, "eve", "root")
    second = await repo.create_token(db_session, "bob", "supervisor", "laptop", seat_id="1002")
    tokens = await repo.list_tokens(db_session, "bob")
    assert [(t.name, t.role, t.seat_id) for t in tokens] == [("laptop", "supervisor", "1002")]
    # a token for bob as something else would change bob, so all bob's tokens: refused
    with pytest.raises(repo.UserMismatch) as mismatch:
        await repo.create_token(db_session, "bob", "admin", "ops")
    assert (mismatch.value.user.role, mismatch.value.active_tokens) == ("supervisor", 1)
    assert [t.name for t in await repo.list_tokens(db_session, "bob")] == ["laptop"]
    assert await repo.revoke_token(db_session, token_id=tokens[0].id)
    assert await repo.authenticate(db_session, second) is None
    with pytest.raises(ValueError):
        await repo.revoke_token(db_session)


async def test_writes_join_a_transaction_the_caller_began(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessionmaker() as session, session.begin():
        kept = await repo.create_token(session, "carol", "admin", "cli")
    async with db_sessionmaker() as session:
        assert await repo.authenticate(session, kept) is not None

    async with db_sessionmaker() as session:
        async with session.begin():
            dropped = await repo.create_token(session, "dave", "agent", "cli")
            await session.rollback()
        assert await repo.authenticate(session, dropped) is None
        assert await repo.get_user(session, "dave") is None


async def test_seat_state_log_window(db_session: AsyncSession) -> None:
    for i, (seat, state) in enumerate(
        [("1001", "available"), ("1002", "available"), ("1001", "ringing"), ("1001", "on_call")]
    ):
        db_session.add(
            SeatStateLogRow(
                seat_id=seat,
                node="node1",
                state=state,
                previous="offline",
                transition="t",
                at=T0 + timedelta(seconds=i),
            )
        )
    await db_session.commit()
    rows = await repo.seat_state_log(
        db_session, "1001", T0 + timedelta(seconds=1), T0 + timedelta(seconds=10)
    )
    assert [r.state for r in rows] == ["ringing", "on_call"]
    everyone = await repo.seat_state_log(db_session, None, T0, T0 + timedelta(seconds=10))
    assert [(r.seat_id, r.state) for r in everyone] == [
        ("1001", "available"),
        ("1001", "ringing"),
        ("1001", "on_call"),
        ("1002", "available"),
    ]
