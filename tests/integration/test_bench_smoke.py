"""The bench itself: a customer reaches a queued agent through the real Asterisk, and AMI
lets the CTI user in with its secret only."""

from __future__ import annotations

import asyncio
import time

import pytest

from cti.stack.asterisk import AsteriskInstance
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration


def wait_for_queue_log(asterisk: AsteriskInstance, verb: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for row in asterisk.queue_log_rows():
            if row[4] == verb:
                return row
        time.sleep(0.1)
    raise AssertionError(f"no {verb} in queue_log within {timeout}s:\n{asterisk.queue_log_rows()}")


def test_customer_reaches_agent_through_queue(asterisk: AsteriskInstance, sipp: SippBench) -> None:
    agent = sipp.agent("1001", mode="answer", answer_after=0.5)
    assert "Added interface" in asterisk.cli("queue add member PJSIP/1001 to sales")

    customer = sipp.customer("200", hold=3.0)
    result = customer.wait(timeout=60)

    assert result.ok, f"{result}\n{customer.output()[-2000:]}"
    complete = wait_for_queue_log(asterisk, "COMPLETECALLER", timeout=10)
    verbs = {row[4] for row in asterisk.queue_log_rows() if row[1] == complete[1]}
    assert {"ENTERQUEUE", "CONNECT", "COMPLETECALLER"} <= verbs
    connect = next(r for r in asterisk.queue_log_rows() if r[4] == "CONNECT")
    assert connect[2:4] == ["sales", "PJSIP/1001"]
    talk_seconds = int(complete[6])
    assert 2 <= talk_seconds <= 5
    agent_result = agent.stop()
    assert agent_result.ok, agent_result


def test_agent_hangs_up_first(asterisk: AsteriskInstance, sipp: SippBench) -> None:
    agent = sipp.agent("1002", mode="answer", hangup_after=2.0)
    asterisk.cli("queue add member PJSIP/1002 to support")

    customer = sipp.customer("300", hold=None)  # waits for Asterisk's BYE
    result = customer.wait(timeout=60)

    assert result.ok, f"{result}\n{customer.output()[-2000:]}"
    complete = wait_for_queue_log(asterisk, "COMPLETEAGENT", timeout=10)
    assert complete[2:4] == ["support", "PJSIP/1002"]
    assert agent.stop().ok


async def _ami_login(port: int, username: str, secret: str) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        banner = await asyncio.wait_for(reader.readline(), 5)
        writer.write(
            f"Action: Login\r\nActionID: login-1\r\nUsername: {username}\r\n"
            f"Secret: {secret}\r\nEvents: off\r\n\r\n".encode()
        )
        await writer.drain()
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        return banner, response
    finally:
        writer.close()
        await writer.wait_closed()


async def test_ami_accepts_cti_user_and_refuses_wrong_secret(
    asterisk: AsteriskInstance,
) -> None:
    params = asterisk.params
    banner, ok = await _ami_login(params.ami_port, params.ami_username, params.ami_secret)
    assert banner.startswith(b"Asterisk Call Manager/")
    assert b"Response: Success" in ok
    assert b"ActionID: login-1" in ok

    _, refused = await _ami_login(params.ami_port, params.ami_username, "wrong-secret-123")
    assert b"Response: Error" in refused
    assert b"Authentication failed" in refused
