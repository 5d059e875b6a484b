"""Everything that speaks AMI. panoramisk is imported here and nowhere else.

- ``protocol``: panoramisk's AMIProtocol with the 1.4 defects worked around and a fast,
  allocation-light path for events.
- ``connection``: one supervised connection per Asterisk node (login, backoff, keepalive).
- ``actions``: one small function per action, values checked before they reach the socket.
- ``events``: the typed records the rest of the service sees.
"""
