"""From AMI events to the mirror and domain events, without I/O or clock reads."""
