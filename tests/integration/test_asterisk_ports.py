"""An Asterisk of ours refuses to start on a SIP or AMI port something else holds.

Asterisk itself starts, and says it is fully booted, without the transport it could not
bind: its phones would then reach whatever holds the port (in the probe: another stack's
Asterisk, with `scripts/start` saying the stack was up).
"""

from __future__ import annotations

import shutil
import socket

import pytest

from cti.stack.asterisk import AsteriskInstance, AsteriskStartError, provision

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("what", ["SIP", "AMI"])
def test_a_port_another_process_holds_is_named_and_nothing_starts(what: str) -> None:
    instance = AsteriskInstance.make(provision())
    p = instance.params
    udp = what == "SIP"
    port = p.sip_port if udp else p.ami_port
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", port))
        if not udp:
            holder.listen()
        with pytest.raises(AsteriskStartError,
                           match=f"{what} port 127.0.0.1:{port}/{'udp' if udp else 'tcp'}"):
            instance.start()
        assert not instance.running
    finally:
        holder.close()
        instance.stop()
        shutil.rmtree(instance.host_path(), ignore_errors=True)
