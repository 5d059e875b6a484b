"""Full-call recordings: storage, WAV inspection, HTTP ranges, retention, catalogue, sweep.

Pure modules (no I/O, unit-tested): ``wav`` (header parsing and the stereo header fix),
``ranges`` (HTTP Range), ``retention`` (cutoffs and policies), ``naming`` (file and
download names). I/O at the edges: ``storage`` (directories shared with Asterisk),
``streaming`` (chunked reads), ``repository`` (PostgreSQL), ``catalogue`` (ready files ->
rows), ``sweep`` (retention deletes), ``schedule`` (the sweep inside the service).
"""
