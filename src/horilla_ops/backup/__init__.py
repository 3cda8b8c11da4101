"""Backups of the Horilla stack: pgBackRest (physical, with WAL archiving), nightly
pg_dump (custom format and plain SQL) and restic (files), with the operator commands
`horilla-backup` and `horilla-restore` and metrics for node_exporter's textfile collector."""
