"""SIPp processes playing seats' softphones (UAS), customers calling in (UAC) and the
customers an outbound dialer calls through the trunk (one UAS for the run) on loopback.

Scenario templates live in ``tests/sipp/*.xml``; each process gets its own rendered copy
(only lower-case ``${name}`` are placeholders; SIPp's ``[keywords]`` pass through), its own
SIP, media and control ports, and its own working directory holding SIPp's statistics
(``stats.csv``), unexpected-message log (``errors.log``) and output (``sipp.log``).

Success: a customer runs one call (``-m 1``) and exits 0 when it succeeded; a seat runs
until stopped, and ``SippResult`` counts its successful and failed calls from the
statistics file. The called customers log every INVITE (``invite_log``).
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import logging
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cti.stack.ports import LOOPBACK, free_port, free_port_pair
from cti.stack.render import ConfTemplate

log = logging.getLogger(__name__)

SCENARIOS = Path(__file__).resolve().parents[1] / "sipp"
PCAP_DIR = Path("/usr/share/sip-tester")
AUDIO_PCAP = PCAP_DIR / "g711a.pcap"
DTMF_NAMES = {"*": "star", "#": "pound", **{d: d for d in "0123456789"}}

AgentMode = Literal["answer", "no_answer", "busy"]
CalledClass = Literal["answer", "busy", "failure", "ring"]
UasLogKind = Literal["INVITE", "ANSWER", "BYE", "RINGING", "CANCEL"]

# What tests/sipp/called_customers.xml does with an INVITE, by the last digit of the
# Request-URI's user part (a user part not ending in a digit is a "failure").
CALLED_CUSTOMER_CLASSES: Mapping[str, CalledClass] = {
    "0": "answer", "1": "answer", "2": "answer",  # 180, 200 OK after answer_after, audio
    "3": "busy",  # 486 Busy Here
    "4": "failure",  # failure_code (404 Not Found unless told otherwise)
    "5": "ring", "6": "ring", "7": "ring", "8": "ring",  # 180 until CANCEL
    "9": "ring",  # the same after 100 Trying and a post-dial delay (post_dial)
}
FAILURE_REASONS = {
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    484: "Address Incomplete",
    500: "Server Internal Error",
    503: "Service Unavailable",
    603: "Decline",
}
INVITE_LOG = "invites.log"


def called_class(number: str) -> CalledClass:
    """What the called-customers UAS does when ``number`` is dialled."""
    return CALLED_CUSTOMER_CLASSES.get(number[-1:], "failure")


@dataclass(frozen=True, slots=True)
class InviteRow:
    """One INVITE the called-customers UAS received (or answer it sent, or BYE it
    received): when (epoch seconds), whom, Call-ID."""

    time: float
    number: str
    call_id: str


def parse_invite_log(path: Path) -> list[InviteRow]:
    """The called-customers UAS's INVITE log as rows, in arrival order.

    Lines are ``INVITE;<epoch s>;<us>;<user>;<Call-ID>``; anything else is skipped (a
    missing file is no INVITE yet).
    """
    return parse_uas_log(path, "INVITE")


def parse_uas_log(path: Path, kind: UasLogKind) -> list[InviteRow]:
    """The lines of one ``kind`` of the called-customers UAS's log, in order: INVITEs
    received, answers sent (ANSWER), Asterisk's BYEs received, as ``InviteRow``s."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    rows: list[InviteRow] = []
    for line in text.splitlines():
        parts = line.strip().split(";", 4)
        if len(parts) != 5 or parts[0] != kind:
            continue
        try:
            seconds, micros = int(float(parts[1])), int(float(parts[2]))
        except ValueError:
            continue
        rows.append(InviteRow(seconds + micros / 1e6, parts[3], parts[4]))
    return rows


def sipp_binary() -> str:
    found = shutil.which("sipp")
    if found is None:
        raise RuntimeError("sipp is not installed (Debian package sip-tester)")
    return found


@dataclass(frozen=True, slots=True)
class SippResult:
    """How a SIPp process ended. ``ok``: it ran at least one call and none failed."""

    name: str
    returncode: int | None
    successful: int
    failed: int
    errors: str = ""

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.successful > 0 and self.returncode in (0, None)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _render(template: str, workdir: Path, **values: str) -> Path:
    text = ConfTemplate((SCENARIOS / template).read_text()).substitute(values)
    target = workdir / template
    target.write_text(text)
    return target


class SippProcess:
    """One running SIPp. Stop it (or wait for it) to get its ``SippResult``."""

    def __init__(self, name: str, argv: list[str], workdir: Path, *, port: int) -> None:
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.port = port
        self._output = open(workdir / "sipp.log", "wb")  # noqa: SIM115 - closed in _finish
        log.info("starting SIPp %s: %s", name, " ".join(argv))
        self.process = subprocess.Popen(
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.result: SippResult | None = None

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stats(self) -> tuple[int, int]:
        """(successful, failed) calls so far, from SIPp's statistics file."""
        path = self.workdir / "stats.csv"
        if not path.exists():
            return 0, 0
        rows = list(csv.DictReader(path.read_text(errors="replace").splitlines(), delimiter=";"))
        if not rows:
            return 0, 0
        last = rows[-1]
        return int(last.get("SuccessfulCall(C)") or 0), int(last.get("FailedCall(C)") or 0)

    def wait(self, timeout: float) -> SippResult:
        """Wait for SIPp to exit by itself (customers: after their one call)."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise TimeoutError(f"SIPp {self.name} still running after {timeout}s") from None
        return self._finish()

    async def wait_async(self, within: float) -> SippResult:
        """``wait`` without blocking the event loop (``within``: its timeout, seconds)."""
        return await asyncio.to_thread(self.wait, within)

    def stop(self, timeout: float = 10.0) -> SippResult:
        """End SIPp: SIGUSR1 (soft stop, calls in progress end), then SIGTERM, SIGKILL."""
        for sig in (signal.SIGUSR1, signal.SIGTERM, signal.SIGKILL):
            if self.process.poll() is not None:
                break
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout / 3)
            except subprocess.TimeoutExpired:
                log.warning("SIPp %s ignored %s", self.name, sig.name)
        return self._finish()

    def _finish(self) -> SippResult:
        if self.result is None:
            self.process.wait()
            self._output.close()
            successful, failed = self.stats()
            errors = ""
            for path in self.workdir.glob("*errors.log"):
                lines = path.read_text(errors="replace").splitlines()
                # timeouts that jump to a label are how the scenarios branch, not errors
                noise = ("jumping to label", "The following events occurred")
                errors += "\n".join(ln for ln in lines if not any(n in ln for n in noise))
            self.result = SippResult(
                self.name, self.process.returncode, successful, failed, errors[-4000:]
            )
            log.info("SIPp %s ended: %s", self.name, self.result)
        return self.result

    def output(self) -> str:
        return (self.workdir / "sipp.log").read_text(errors="replace")

    def messages(self) -> str:
        """The SIP messages traced (``trace_messages=True``), or "" if none were."""
        path = self.workdir / "messages.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class SippBench:
    """Starts SIPp seats and customers against one Asterisk SIP port; ``close()`` ends all."""

    asterisk_sip_port: int
    workdir: Path
    seat_ports: Mapping[str, int] = field(default_factory=dict)
    host: str = LOOPBACK
    trunk_port: int | None = None  # where Asterisk's trunk sends calls out (customers)
    processes: list[SippProcess] = field(default_factory=list)
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def _base_argv(self, scenario: Path, port: int, workdir: Path) -> list[str]:
        return [
            sipp_binary(),
            "-sf",
            str(scenario),
            "-i",
            self.host,
            "-p",
            str(port),
            "-mi",
            self.host,
            "-mp",
            str(free_port_pair(self.host)),
            "-cp",
            str(free_port(self.host, udp=True)),
            "-nostdin",
            "-aa",
            "-trace_stat",
            "-stf",
            str(workdir / "stats.csv"),
            "-fd",
            "1",
            "-trace_err",
            "-error_file",
            str(workdir / "errors.log"),
        ]

    def _workdir(self, name: str) -> Path:
        path = self.workdir / f"{next(self._counter):03d}-{name}"
        path.mkdir(parents=True)
        return path

    def agent(
        self,
        extension: str,
        port: int | None = None,
        *,
        mode: AgentMode = "answer",
        answer_after: float = 0.0,
        hangup_after: float | None = None,
        play_audio: bool = True,
        audio: Path = AUDIO_PCAP,
        trace_messages: bool = False,
        digits: str = "",
        digits_after: float = 2.0,
    ) -> SippProcess:
        """A seat's softphone listening on ``port`` (default: the seat's static contact
        port from ``seat_ports``). With ``trace_messages`` every SIP message it sends and
        receives is kept in ``messages.log`` of its workdir (``SippProcess.messages()``).

        ``answer``: rings ``answer_after`` seconds then answers; hangs up after
        ``hangup_after`` seconds, or (None) waits for Asterisk's BYE. ``no_answer``: rings
        until Asterisk cancels (200 + 487). ``busy``: 486 to every call.
        ``digits``: keys pressed (RFC 2833) ``digits_after`` seconds after answering, one
        a second; the audio stops when the first is sent. ``hangup_after`` then counts
        from the last.
        """
        for digit in digits:
            if digit not in DTMF_NAMES:
                raise ValueError(f"no RFC 2833 pcap for digit {digit!r}")
        if port is None:
            port = self.seat_ports[extension]
        workdir = self._workdir(f"agent-{extension}-{mode}")
        if mode == "busy":
            scenario = _render("agent_busy.xml", workdir)
        else:
            ring = "" if mode == "no_answer" else f'timeout="{_ms(answer_after)}" ontimeout="1"'
            media = [f'<nop><action><exec play_pcap_audio="{audio}"/></action></nop>'
                     ] if play_audio else []
            for i, digit in enumerate(digits):
                pcap = PCAP_DIR / f"dtmf_2833_{DTMF_NAMES[digit]}.pcap"
                media.append(f'<pause milliseconds="{_ms(digits_after) if i == 0 else 1000}"/>')
                media.append(f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
            if hangup_after is not None:
                # The hang-up delay as a pause (then label 2: the phone's BYE), not as the
                # BYE wait's timeout: a re-INVITE answered meanwhile resumes a pause for
                # what it had left, a receive timeout would start again. Asterisk's BYE
                # during the pause is answered by the scenario's handler.
                media.append(f'<pause milliseconds="{_ms(hangup_after)}"/>')
                media.append('<nop next="2"/>')
            scenario = _render(
                "agent.xml",
                workdir,
                ring_attributes=ring,
                bye_wait_attributes="",
                audio_block="\n  ".join(media),
            )
        argv = [*self._base_argv(scenario, port, workdir), "-s", extension]
        if trace_messages:
            argv += ["-trace_msg", "-message_file", str(workdir / "messages.log")]
        return self._track(SippProcess(f"agent-{extension}", argv, workdir, port=port))

    def customer(
        self,
        exten: str,
        *,
        hold: float | None = 3.0,
        digits: str = "",
        caller_number: str = "0612345678",
        caller_name: str = "Customer",
        play_audio: bool = True,
        audio: Path = AUDIO_PCAP,
        audio_delay: float = 0.0,
        timeout: float = 120.0,
    ) -> SippProcess:
        """A customer calling ``exten`` through the trunk; one call, then SIPp exits.

        After the answer: ``digits`` as RFC 2833 events, then ``audio`` (a pcap); hangs up
        after ``hold`` seconds (from the answer), or (None) waits for Asterisk's BYE.
        ``audio_delay`` waits that long before the audio (to speak after a greeting) and
        lengthens the call by as much.
        """
        for digit in digits:
            if digit not in DTMF_NAMES:
                raise ValueError(f"no RFC 2833 pcap for digit {digit!r}")
        if not exten.isalnum() or not caller_number.isdigit() or '"' in caller_name:
            raise ValueError("exten, caller number or name not usable in SIP headers")
        workdir = self._workdir(f"customer-{exten}")
        media: list[str] = []
        for digit in digits:
            pcap = PCAP_DIR / f"dtmf_2833_{DTMF_NAMES[digit]}.pcap"
            media.append('<pause milliseconds="300"/>')
            media.append(f'<nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
        if digits:
            media.append('<pause milliseconds="300"/>')
        if play_audio:
            if audio_delay > 0:
                media.append(f'<pause milliseconds="{_ms(audio_delay)}"/>')
            media.append(f'<nop><action><exec play_pcap_audio="{audio}"/></action></nop>')
        bye = "" if hold is None else f'timeout="{_ms(hold)}" ontimeout="1"'
        scenario = _render(
            "customer.xml",
            workdir,
            exten=exten,
            caller_number=caller_number,
            caller_name=caller_name,
            media_block="\n  ".join(media),
            bye_wait_attributes=bye,
        )
        port = free_port(self.host, udp=True)
        argv = [
            *self._base_argv(scenario, port, workdir),
            "-m",
            "1",
            "-l",
            "1",
            "-timeout",
            f"{round(timeout)}s",
            "-timeout_error",
            f"{self.host}:{self.asterisk_sip_port}",
        ]
        return self._track(SippProcess(f"customer-{exten}", argv, workdir, port=port))

    def called_customers(
        self,
        port: int | None = None,
        *,
        answer_after: float = 1.5,
        max_call: float = 60.0,
        max_ring: float = 120.0,
        post_dial: float = 4.0,
        failure_code: int = 404,
        play_audio: bool = True,
        audio: Path = AUDIO_PCAP,
    ) -> SippProcess:
        """The customers an outbound dialer reaches through the trunk: one UAS on ``port``
        (default: a free one) for any number of concurrent calls, until stopped.

        The last digit of the dialled number picks the behaviour (``CALLED_CUSTOMER_CLASSES``):
        answer after ``answer_after`` s, play ``audio``, wait for Asterisk's BYE or hang
        up after ``max_call`` s; busy (486); failure (``failure_code``); ring until
        cancelled (480 after ``max_ring`` s), numbers ending in 9 after ``post_dial`` s
        of post-dial delay. Point the trunk at it with
        ``trunk_contact=f"sip:127.0.0.1:{process.port}"``; every INVITE is logged to
        ``process.workdir / INVITE_LOG`` (read it with ``invite_log``).
        """
        if failure_code not in FAILURE_REASONS:
            raise ValueError(f"failure_code {failure_code} is not one of {sorted(FAILURE_REASONS)}")
        if port is None:
            port = free_port(self.host, udp=True)
        workdir = self._workdir("called-customers")
        audio_block = f'<nop><action><exec play_pcap_audio="{audio}"/></action></nop>'
        scenario = _render(
            "called_customers.xml",
            workdir,
            answer_ms=str(_ms(answer_after)),
            max_call_ms=str(_ms(max_call)),
            max_ring_ms=str(_ms(max_ring)),
            post_dial_ms=str(_ms(post_dial)),
            failure_code=str(failure_code),
            failure_reason=FAILURE_REASONS[failure_code],
            audio_block=audio_block if play_audio else "",
        )
        argv = [
            *self._base_argv(scenario, port, workdir),
            "-trace_logs",
            "-log_file",
            str(workdir / INVITE_LOG),
        ]
        return self._track(SippProcess("called-customers", argv, workdir, port=port))

    def _track(self, process: SippProcess) -> SippProcess:
        self.processes.append(process)
        return process

    def close(self) -> list[SippResult]:
        """Stop every process still running; the results of all of them."""
        return [p.stop() for p in self.processes]


def invite_log(process: SippProcess) -> list[InviteRow]:
    """The INVITEs a ``called_customers`` process received so far."""
    return parse_invite_log(process.workdir / INVITE_LOG)


def wait_until_stats(process: SippProcess, *, successful: int, timeout: float) -> None:
    """Poll SIPp's statistics until ``successful`` calls completed (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.stats()[0] >= successful:
            return
        if not process.running:
            break
        time.sleep(0.1)
    raise TimeoutError(f"SIPp {process.name}: {process.stats()} calls after {timeout}s")
