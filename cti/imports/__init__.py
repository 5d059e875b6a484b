"""Lead imports in the background: spool the upload, parse it in worker processes, write it
in committed batches, resume after a restart.

- :mod:`cti.imports.spool`    the request body to a file on disk, under a size cap
- :mod:`cti.imports.pipeline` the parser over a stream, phonenumbers work in a process pool
- :mod:`cti.imports.runner`   the jobs: one at a time, progress in PostgreSQL, resumption
"""
