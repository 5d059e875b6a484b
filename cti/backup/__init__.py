"""Backup and restore: a consistent PostgreSQL dump plus the Asterisk files, in generations.

    cti backup --target DIR      a new generation DIR/<UTC time>/: pg_dump (custom format,
                                 one snapshot) and the recordings, voicemail, hold music
                                 and uploaded prompts; a file unchanged since the previous
                                 generation is a hard link to its copy there, never copied
                                 again; the oldest generations beyond CTI_BACKUP__KEEP go
                                 once the new one is complete
    cti restore --from DIR       verify a generation (the newest, or --generation NAME)
                                 against its manifest, pg_restore into a clean database,
                                 copy the files back, verify again

The service runs the same backup on a schedule on the leading replica
(:mod:`cti.backup.schedule`, ``CTI_BACKUP__*``). Modules: ``manifest`` (the manifest and
the copy decisions), ``generations`` (names and retention) and ``timing`` (when the next
scheduled run is due) are pure; ``copying``, ``store`` (the backup directory: lock,
generations) and ``run`` do the I/O; ``sources`` names the directories backed up.

Errors::

    BackupError              base of everything raised here
    +-- ToolNotFound         pg_dump / pg_restore / psql not installed
    +-- ToolFailed           one of them exited non-zero (its stderr is in the message)
    +-- ManifestError        no manifest, an unreadable one, or a file not matching it
    +-- DatabaseNotEmpty     restore refused: the target database already has tables
    +-- BackupBusy           another backup holds the backup directory's lock
    +-- SourceRefused        a directory to back up is missing, or emptied while the last
                             backup holds its files: it would drop them from the backup
    +-- Cancelled            the run was asked to stop; it removed what it had written
"""
