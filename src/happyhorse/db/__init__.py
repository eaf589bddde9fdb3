"""The database layer: schema, connection and migrations (SQLite and PostgreSQL)."""
