"""Shared parts of the recordings benchmarks: a PostgreSQL for the run, the API served by
uvicorn in its own process (as in production), percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from cti.stack.ports import free_port
from cti.stack.postgres import PostgresCluster


@contextlib.contextmanager
def postgres() -> Iterator[PostgresCluster]:
    from cti.db.migrate import upgrade

    cluster = PostgresCluster(tempfile.mkdtemp(prefix="bench-rec-pg-"), durable=False)
    cluster.init()
    cluster.start()
    try:
        upgrade(cluster.url)
        yield cluster
    finally:
        cluster.destroy()


def _serve(db_url: str, base: str, port: int, batch_size: int, pause: float) -> None:
    import uvicorn

    from cti.api.app import create_app
    from cti.api.recording_service import RecordingService
    from cti.config import DatabaseSettings, Settings
    from cti.db.engine import make_engine, make_sessionmaker
    from recordings.storage import RecordingDirs
    from recordings.sweep import Sweeper
    from tests.unit._api_fakes import FakeLiveView

    sm = make_sessionmaker(make_engine(DatabaseSettings(url=db_url)))
    dirs = RecordingDirs(Path(base), Path(base) / "markers")
    sweeper = Sweeper(sm, dirs, batch_size=batch_size, pause=pause)
    app = create_app(Settings(environment="test"), live=FakeLiveView(), sessionmaker=sm,
                     health=[], recordings_service=RecordingService(sm, dirs, sweeper, 92))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextlib.contextmanager
def api_server(db_url: str, base: Path, *, batch_size: int = 1000,
               pause: float = 0.02) -> Iterator[str]:
    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(db_url, str(base), port, batch_size, pause), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or not proc.is_alive():
                proc.kill()
                raise RuntimeError("the API did not start") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.join(10)


def token(db_url: str, user: str, role: str) -> str:
    from cti.config import DatabaseSettings
    from cti.db import repositories
    from cti.db.engine import make_engine, make_sessionmaker

    async def make() -> str:
        engine = make_engine(DatabaseSettings(url=db_url))
        try:
            async with make_sessionmaker(engine)() as s:
                return await repositories.create_token(s, user, role, "bench")
        finally:
            await engine.dispose()

    return asyncio.run(make())


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
