"""A part's background task: one at a time, stopped by cancelling and awaiting it."""

from __future__ import annotations

import asyncio

from cti.tasks import Background


async def test_started_once_stopped_and_awaited_and_a_stop_before_a_start_is_nothing() -> None:
    began: list[int] = []
    ended: list[str] = []

    async def run() -> None:
        began.append(1)
        try:
            await asyncio.Event().wait()
        finally:
            ended.append("cleaned up")

    task = Background("t", run)
    await task.stop()  # never started: nothing happens
    task.start()
    task.start()  # already running: not a second one
    await asyncio.sleep(0)
    assert began == [1] and task.running
    await task.stop()
    assert ended == ["cleaned up"] and not task.running  # its finally ran before stop returned
    task.start()  # a stopped part may start again
    await asyncio.sleep(0)
    assert began == [1, 1]
    await task.stop()


async def test_a_task_that_ended_by_itself_is_not_running() -> None:
    async def run() -> None:
        return

    task = Background("t", run)
    task.start()
    await asyncio.sleep(0.01)
    assert not task.running
    await task.stop()
