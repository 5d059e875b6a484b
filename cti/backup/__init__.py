"""Backup and restore: a consistent PostgreSQL dump plus the recordings, with a manifest.

    cti backup --target DIR      pg_dump (custom format, one snapshot) + recordings copied
                                 incrementally (unchanged files skipped by size and mtime)
    cti restore --from DIR       verify everything against the manifest, pg_restore into a
                                 clean database, copy the recordings back, verify again

Errors::

    BackupError              base of everything raised here
    +-- ToolNotFound         pg_dump / pg_restore / psql not installed
    +-- ToolFailed           one of them exited non-zero (its stderr is in the message)
    +-- ManifestError        no manifest, an unreadable one, or a file not matching it
    +-- DatabaseNotEmpty     restore refused: the target database already has tables
"""
