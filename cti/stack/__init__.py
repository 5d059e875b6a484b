"""The real parts the service runs against, started and stopped from Python.

``asterisk`` runs one Asterisk 22 instance from the shipped ``asterisk-conf/`` (rendered by
``render``); ``postgres`` runs a PostgreSQL cluster; ``ports`` hands out free loopback
ports. The test bench and the development ``cti`` command both use them.
"""
