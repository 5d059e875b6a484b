"""PostgreSQL: models, engine, migrations and the repositories the REST API uses.

The schema comes only from the Alembic migrations (``cti.db.migrate.upgrade``).
"""
