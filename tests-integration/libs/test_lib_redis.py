"""redis-py's asyncio client on layerloop against a throwaway redis-server on loopback."""

from __future__ import annotations

import asyncio
import itertools

from libs_support import LoopRunner, require
from tools.services import RedisServer

require("redis")
import redis.asyncio as aioredis  # noqa: E402

_prefixes = itertools.count()


def _prefix() -> str:
    """Keys no other test (or backend run) uses: one server serves the whole run."""
    return f"k{next(_prefixes)}:"


def test_commands_and_pipeline(runner: LoopRunner, redis_server: RedisServer) -> None:
    p = _prefix()

    async def main() -> None:
        async with aioredis.Redis.from_url(redis_server.url) as client:
            assert await client.ping() is True
            assert await client.set(f"{p}a", "1") is True
            assert await client.get(f"{p}a") == b"1"
            assert await client.incrby(f"{p}a", 41) == 42
            big = bytes(range(256)) * 4096  # 1 MiB value
            await client.set(f"{p}big", big)
            assert await client.get(f"{p}big") == big
            await client.set(f"{p}ttl", "x", px=50)
            await asyncio.sleep(0.2)
            assert await client.get(f"{p}ttl") is None

            async with client.pipeline(transaction=True) as pipe:
                for i in range(1000):
                    pipe.rpush(f"{p}list", i)
                pipe.llen(f"{p}list")
                results = await pipe.execute()
            assert results[:1000] == list(range(1, 1001))
            assert results[1000] == 1000
            items = await client.lrange(f"{p}list", 0, -1)
            assert items == [str(i).encode() for i in range(1000)]

    runner.run(main)


def test_many_concurrent_commands(runner: LoopRunner, redis_server: RedisServer) -> None:
    p = _prefix()
    count = 1000

    async def main() -> None:
        name = f"{p}pool"  # CLIENT SETNAME: tells this pool's connections apart
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_server.url, max_connections=20, client_name=name
        )
        async with aioredis.Redis(connection_pool=pool) as client:
            await asyncio.gather(*(client.set(f"{p}{i}", i) for i in range(count)))
            values = await asyncio.gather(*(client.get(f"{p}{i}") for i in range(count)))
            assert values == [str(i).encode() for i in range(count)]
            counts = await asyncio.gather(*(client.incr(f"{p}n") for _ in range(500)))
            assert sorted(counts) == list(range(1, 501))  # every INCR saw a distinct value
            ours = [c for c in await client.client_list() if c["name"] == name]
            assert 2 <= len(ours) <= 20, len(ours)  # the pool really ran commands in parallel
        await pool.aclose()

    runner.run(main)


def test_pubsub_and_blocking_pop(runner: LoopRunner, redis_server: RedisServer) -> None:
    p = _prefix()

    async def main() -> None:
        async with aioredis.Redis.from_url(redis_server.url) as client:
            pubsub = client.pubsub()
            await pubsub.subscribe(f"{p}news")
            confirm = await pubsub.get_message(timeout=5)
            assert confirm is not None and confirm["type"] == "subscribe"
            async with aioredis.Redis.from_url(redis_server.url) as publisher:
                for i in range(20):
                    assert await publisher.publish(f"{p}news", f"m{i}") == 1
                got: list[bytes] = []
                while len(got) < 20:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
                    assert message is not None, f"only {len(got)} messages arrived"
                    got.append(message["data"])
                assert got == [f"m{i}".encode() for i in range(20)]

                # BLPOP waits in the server; the push from another connection wakes it
                waiter = asyncio.ensure_future(client.blpop([f"{p}queue"], timeout=10))
                await asyncio.sleep(0.05)
                assert not waiter.done()
                await publisher.rpush(f"{p}queue", "job")
                popped = await waiter
                assert popped is not None
                assert tuple(popped) == (f"{p}queue".encode(), b"job")
            await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    runner.run(main)
