"""Supervision: a supervisor listens to, whispers to or barges into an agent's live call.

    rules.py       pure: modes, which channel to spy on, why a session ended
    repository.py  the audit table (supervision_sessions)
    service.py     commands (start, change mode, stop) and the event consumer that ends
                   sessions from the live events (supervisor's leg or the call ending)

How it works on Asterisk: the service originates the supervisor's phone into the dialplan
context ``cti-supervision`` (asterisk-conf/extensions_supervision.conf), exten = mode,
with the agent's exact channel name in ``CTI_SPY_TARGET``; ChanSpy (options ``uqEd``)
spies on exactly that channel. Mode changes are DTMF 4/5/6 queued on the supervisor's
channel as if received (AMI PlayDTMF, Receive), which ChanSpy's ``d`` option turns into
listen/whisper/barge. Stop hangs up the supervisor's channel by its uniqueid.
"""
