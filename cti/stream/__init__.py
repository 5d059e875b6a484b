"""The live event stream behind ``WS /v1/events``: a snapshot, then ordered deltas.

Served on the API's port, from the API's event loop (which also runs the AMI consumer and
the tracker), and, when ``CTI_STREAM__PORT`` is set, also on that port by a
:class:`cti.stream.worker.StreamWorker`: its own thread and event loop, so that hundreds
of clients never delay the tracker (``bench/event_stream/RESULTS.md``). Both speak the
same protocol from the same hub (same numbers, same filtering); route wallboards, or the
reverse proxy's ``/v1/events``, to the worker's port.

Wire format (stable; every message is one JSON text frame, or with ``?coalesce=true``
one or more of them separated by ``\n``)::

    {"type": "<kind>", "seq": <int>, "at": "<ISO-8601 UTC>", "data": {...}}

``seq`` numbers deltas across the whole service: consecutive deltas differ by exactly 1.
A role-filtered stream skips the numbers of deltas it may not see, so gaps are normal; a
loss is never silent, it is always announced by a ``resync`` message. Numbers are seeded
from the clock when the service starts, so after a restart they are above any number the
previous process issued, and a client resuming from an old number is told to resync.

Control messages (``seq`` is the stream position they refer to):

``snapshot``   ``data = {"seats": [...], "skill_groups": [...], "calls": [...],
               "nodes": [{node, connected, reason, since}]}``; the state after delta
               ``seq``: the deltas that follow start at ``seq + 1``.
``resumed``    the answer to ``?since=N`` when the deltas after N are still held:
               ``seq = N``, ``data = {"replayed": <count>}``; the replayed deltas follow.
``resync``     the client's view is stale, drop it. ``data = {"reason": ...}`` with reason
               ``slow_consumer`` (the client fell too far behind: the server closes the
               connection after this message, code 1013; reconnect without ``since``),
               ``too_old`` (``since`` is older than the deltas still held) or
               ``unknown_sequence`` (``since`` was never issued by this process); for
               the last two a ``snapshot`` follows on the same connection.

Deltas (``data`` shapes are those of the REST API's records):

``seat``           a seat changed state: ``SeatOut`` plus ``previous`` (its former state)
                   and ``transition`` (the seat machine's named transition).
``call``           a call started or changed, or ended (``active`` false, state ``ended``):
                   ``CallOut``.
``call_timeline``  one line of a call's timeline: ``{call_id, kind, at, seat_id,
                   skill_group, detail}`` (kinds: started, queued, offered, no_answer,
                   answered, completed, abandoned, left_queue (to voicemail, with
                   app_queue's status), dumped, ended, ended_unseen).
``skill_group``    a skill group's figures or members changed: ``{name, node, strategy,
                   calls_waiting, completed, abandoned, members_total, members_paused,
                   members_available}``; for supervisors and admins also ``members``, the
                   members added or changed since the group's previous delta
                   (``SkillGroupMemberOut`` records, whole), and ``removed_members``
                   (seat ids). The snapshot carries every member. ``{name, node, removed:
                   true}`` when a resync found the group gone.
``node``           an Asterisk node's AMI connection went up or down:
                   ``{node, connected, reason}``. While a node is down its seats and calls
                   are frozen; when it is back, its mirror is rebuilt and the changes
                   arrive as ordinary deltas, then ``mirror_rebuilt``.
``mirror_rebuilt`` ``{node}``: the node's mirror was rebuilt from Asterisk's own view.
``recording``      a call's recording was catalogued (its audio can be downloaded now):
                   ``{id, call_id, direction, seat_id, customer_number, skill_group,
                   campaign, started_at, duration_seconds, call_seconds,
                   audio_gap_seconds, channels, size_bytes, audio_url}`` as
                   ``RecordingOut`` (see it for ``call_seconds`` and the gap). Agents see
                   their own seat's recordings only.
``recordings_deleted`` the retention sweep deleted a batch: ``{batch_id, call_ids}``;
                   supervisors and admins only.

Role filtering: supervisors and admins see everything. An agent sees its own seat, the
calls its seat is ringing for or answered (from the offer: a ``call`` delta with the whole
call record follows it, for the screen pop; until the call ends, or until the
``call_timeline`` ``no_answer``/``dumped`` entry for its seat), node changes, and
skill-group summaries without member detail.
"""
