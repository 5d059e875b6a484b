"""Replicas sharing one database: which one drives Asterisk (cti.cluster.roles)."""
