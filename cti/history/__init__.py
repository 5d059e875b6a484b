"""History: domain events written to PostgreSQL in batches, never lost during outages."""

from cti.history.writer import HistoryWriter

__all__ = ["HistoryWriter"]
