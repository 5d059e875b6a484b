"""The load's real parts: an Asterisk that records, one SIPp playing every seat's phone,
and SIPp customers calling in at a steady rate.
"""

from __future__ import annotations

from pathlib import Path

from cti.stack.ports import LOOPBACK, free_port, free_port_pair
from cti.stack.render import ConfTemplate
from tests.support.sipp import AUDIO_PCAP, SCENARIOS, SippProcess, sipp_binary


# The recordings branch ships the real ``cti-record``; until it is merged the load's
# Asterisk gets this minimal one, so every answered call is recorded as it will be:
# MixMonitor while bridged, a WAV per call in <spool>/monitor. The generated group
# dialplan calls it when it exists (DIALPLAN_EXISTS(cti-record,s,1)).
def _argv(scenario: Path, port: int, workdir: Path) -> list[str]:
    return [
        sipp_binary(), "-sf", str(scenario), "-i", LOOPBACK, "-p", str(port),
        "-mi", LOOPBACK, "-mp", str(free_port_pair(LOOPBACK)),
        "-cp", str(free_port(LOOPBACK, udp=True)), "-nostdin", "-aa",
        "-trace_stat", "-stf", str(workdir / "stats.csv"), "-fd", "1",
        "-trace_err", "-error_file", str(workdir / "errors.log"),
    ]


def _render(template: str, workdir: Path, **values: str) -> Path:
    target = workdir / template
    target.write_text(ConfTemplate((SCENARIOS / template).read_text()).substitute(values))
    return target


def agents(port: int, workdir: Path, *, talk_seconds: float) -> SippProcess:
    """One UAS on ``port`` for every seat: answers at once, plays g711a.pcap, hangs up
    after ``talk_seconds`` (the seat's BYE ends the call)."""
    workdir.mkdir(parents=True, exist_ok=True)
    audio = f'<nop><action><exec play_pcap_audio="{AUDIO_PCAP}"/></action></nop>'
    scenario = _render(
        "agent.xml", workdir,
        ring_attributes='timeout="1" ontimeout="1"',
        bye_wait_attributes=f'timeout="{round(talk_seconds * 1000)}" ontimeout="2"',
        audio_block=audio,
    )
    return SippProcess("agents", [*_argv(scenario, port, workdir), "-s", "seat"], workdir,
                       port=port)


def customers(asterisk_sip_port: int, workdir: Path, *, exten: str, number_prefix: str,
              rate: float, calls: int, patience_seconds: float) -> SippProcess:
    """A UAC placing ``calls`` calls to ``exten`` at ``rate`` per second. Each caller
    number is ``number_prefix`` + SIPp's call number (unique within the process); the
    caller plays g711a.pcap once answered (by the group's Answer()) and hangs up after
    ``patience_seconds`` unless Asterisk (the seat's hang-up) ends the call first."""
    if not (exten.isdigit() and number_prefix.isdigit()):
        raise ValueError("exten and number prefix must be digits")
    workdir.mkdir(parents=True, exist_ok=True)
    scenario = _render(
        "customer.xml", workdir, exten=exten, caller_number=f"{number_prefix}[call_number]",
        caller_name="Load", bye_wait_attributes=f'timeout="{round(patience_seconds * 1000)}"'
                                                ' ontimeout="1"',
        media_block=f'<nop><action><exec play_pcap_audio="{AUDIO_PCAP}"/></action></nop>',
    )
    port = free_port(LOOPBACK, udp=True)
    argv = [
        *_argv(scenario, port, workdir), f"{LOOPBACK}:{asterisk_sip_port}",
        "-r", f"{rate:g}", "-rp", "1000", "-m", str(calls), "-l", "2000",
        "-timeout", f"{round(calls / rate + patience_seconds + 60)}s",
    ]
    return SippProcess(f"customers-{exten}", argv, workdir, port=port)
