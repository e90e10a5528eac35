"""Connection pools whose connections commit each statement by itself."""

from __future__ import annotations

from typing import Any

from psycopg_pool import ConnectionPool


def autocommit_pool(database_url: str, max_size: int) -> ConnectionPool[Any]:
    """A pool (not yet open: open and close it in the app's lifespan) for work done one
    statement at a time, which then costs one round trip instead of BEGIN, the statement
    and COMMIT. Statements that must hold together take `conn.transaction()`."""
    return ConnectionPool(
        database_url, min_size=1, max_size=max_size, open=False, kwargs={"autocommit": True}
    )
