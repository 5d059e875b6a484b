"""Telephony commands and the Asterisk files the service generates.

Pure generators turn configuration (skill groups, IVR menus, hold classes, voicemail
boxes) into Asterisk configuration text; ``files`` writes it where Asterisk reads it;
``cti.ami.actions`` asks Asterisk to reload it.
"""
