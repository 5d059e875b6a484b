"""Queries over the music-on-hold tables; callers own the session and the transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.media_models import MohClass, MohFile


async def classes(session: AsyncSession) -> Sequence[MohClass]:
    return (await session.scalars(select(MohClass).order_by(MohClass.name))).all()


async def get_class(session: AsyncSession, name: str) -> MohClass | None:
    return await session.get(MohClass, name)


async def files(session: AsyncSession, class_name: str | None = None) -> Sequence[MohFile]:
    query = select(MohFile).order_by(MohFile.class_name, MohFile.file_name)
    if class_name is not None:
        query = query.where(MohFile.class_name == class_name)
    return (await session.scalars(query)).all()


async def get_file(session: AsyncSession, class_name: str, file_name: str) -> MohFile | None:
    return await session.get(MohFile, (class_name, file_name))


async def file_counts(session: AsyncSession) -> dict[str, int]:
    """Every class with its number of files (0 for an empty class)."""
    rows = await session.execute(
        select(MohClass.name, func.count(MohFile.file_name))
        .outerjoin(MohFile, MohFile.class_name == MohClass.name)
        .group_by(MohClass.name)
    )
    return {name: int(count) for name, count in rows}


async def delete_class(session: AsyncSession, name: str) -> bool:
    result = await session.execute(delete(MohClass).where(MohClass.name == name))
    return bool(getattr(result, "rowcount", 0))


async def delete_file(session: AsyncSession, class_name: str, file_name: str) -> bool:
    result = await session.execute(
        delete(MohFile).where(MohFile.class_name == class_name, MohFile.file_name == file_name)
    )
    return bool(getattr(result, "rowcount", 0))
