"""The Alembic migrations of a generated fastapi-service project: an iteration keeps its
parent's and adds the next, diffed from the two specs."""
