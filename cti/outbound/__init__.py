"""Placing calls: click-to-dial and the campaign runner (the live side of ``dialer/``)."""
