"""The domain: seats, skill groups and calls as plain data, and the events that change them.

Nothing here does I/O or reads a clock; times arrive as arguments (AMI event timestamps).
"""
