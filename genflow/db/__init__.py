"""The SQL read model: tables, engine and repository."""
