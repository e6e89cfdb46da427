"""asyncpg on layerloop against a throwaway PostgreSQL (tools/services.py) on loopback."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from libs_support import LoopRunner, require
from tools.services import PostgresServer

require("asyncpg")
import asyncpg  # noqa: E402

_tables = itertools.count()


def _table() -> str:
    """A table name no other test (or backend run) uses: one cluster serves the run."""
    return f"t_{next(_tables)}"


def test_copy_fetch_and_transactions(runner: LoopRunner, postgres_server: PostgresServer) -> None:
    table = _table()
    rows = [(i, f"name {i}", i * 0.5) for i in range(20_000)]

    async def main() -> None:
        conn = await asyncpg.connect(postgres_server.dsn)
        try:
            assert await conn.fetchval("SELECT 1 + 1") == 2
            await conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text, x float8)")
            copied = await conn.copy_records_to_table(
                table, records=rows, columns=["id", "name", "x"]
            )
            assert copied == "COPY 20000"
            count, total = await conn.fetchrow(f"SELECT count(*), sum(id) FROM {table}")
            assert (count, total) == (20_000, sum(range(20_000)))
            fetched = await conn.fetch(f"SELECT id, name, x FROM {table} ORDER BY id")
            assert [tuple(r) for r in fetched] == rows  # ~1 MB of result rows

            statement = await conn.prepare(f"SELECT name FROM {table} WHERE id = $1")
            assert [await statement.fetchval(i) for i in (0, 7, 19_999)] == [
                "name 0",
                "name 7",
                "name 19999",
            ]

            async with conn.transaction():
                await conn.execute(f"UPDATE {table} SET name = 'kept' WHERE id = 1")
            with pytest.raises(ZeroDivisionError):
                async with conn.transaction():
                    await conn.execute(f"UPDATE {table} SET name = 'lost' WHERE id = 2")
                    raise ZeroDivisionError
            names = await conn.fetch(f"SELECT name FROM {table} WHERE id IN (1, 2) ORDER BY id")
            assert [r["name"] for r in names] == ["kept", "name 2"]

            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(f"INSERT INTO {table} VALUES (1, 'dup', 0)")
            assert await conn.fetchval("SELECT 'still usable'") == "still usable"
        finally:
            await conn.close()
        assert conn.is_closed()

    runner.run(main)


def test_listen_notify(runner: LoopRunner, postgres_server: PostgresServer) -> None:
    async def main() -> None:
        listener = await asyncpg.connect(postgres_server.dsn)
        sender = await asyncpg.connect(postgres_server.dsn)
        received: asyncio.Queue[str] = asyncio.Queue()

        def on_notify(conn: object, pid: int, channel: str, payload: str) -> None:
            runner.check()  # asyncpg calls back on the connection's loop
            received.put_nowait(f"{channel}:{payload}")

        try:
            await listener.add_listener("events", on_notify)
            for i in range(50):
                await sender.execute("SELECT pg_notify('events', $1)", str(i))
            got = [await received.get() for _ in range(50)]
            assert got == [f"events:{i}" for i in range(50)]
            await listener.remove_listener("events", on_notify)
        finally:
            await asyncio.gather(listener.close(), sender.close())

    before = runner.checks
    runner.run(main)
    assert runner.checks == before + 51


def test_pool_under_concurrency(runner: LoopRunner, postgres_server: PostgresServer) -> None:
    async def main() -> None:
        async with asyncpg.create_pool(postgres_server.dsn, min_size=2, max_size=8) as pool:

            async def one(i: int) -> tuple[int, int]:
                async with pool.acquire() as conn:
                    # pg_sleep keeps the connection busy so that the pool must grow
                    value = await conn.fetchval("SELECT $1::int * 2 FROM pg_sleep(0.005)", i)
                    pid = await conn.fetchval("SELECT pg_backend_pid()")
                    return value, pid

            results = await asyncio.gather(*(one(i) for i in range(200)))
            assert [value for value, _ in results] == [i * 2 for i in range(200)]
            backends = {pid for _, pid in results}
            assert len(backends) == 8, backends  # every connection of the pool was used
            assert await pool.fetchval("SELECT count(*) FROM pg_stat_activity") >= 2

    runner.run(main)
