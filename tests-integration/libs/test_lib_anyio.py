"""anyio's asyncio backend running on layerloop: task groups, cancel scopes, streams, TCP."""

from __future__ import annotations

import hashlib
import threading

import pytest
from libs_support import DEFAULT_BACKEND, TLS, LoopRunner, pattern, pattern_digest, require

require("anyio")
import anyio  # noqa: E402
from anyio.abc import SocketAttribute, SocketStream  # noqa: E402
from anyio.streams.tls import TLSListener, TLSStream  # noqa: E402

SIZE = 2 * 1024 * 1024 + 5


def test_anyio_run_with_loop_factory(runner: LoopRunner) -> None:
    """anyio.run(backend="asyncio", backend_options={"loop_factory": ...}): anyio's own
    entry point, on our loop."""

    async def main() -> str:
        runner.check()
        await anyio.sleep(0.001)
        return "done"

    options = {"loop_factory": runner.new_loop}
    assert anyio.run(main, backend="asyncio", backend_options=options) == "done"
    assert runner.loops_made[-1].is_closed()


@pytest.mark.parametrize("runner", [DEFAULT_BACKEND], indirect=True)
def test_task_group_cancel_scopes_and_threads(runner: LoopRunner) -> None:
    async def main() -> None:
        finished: list[int] = []

        async def worker(n: int) -> None:
            await anyio.sleep(n / 1000)
            finished.append(n)

        async with anyio.create_task_group() as tg:
            for n in (5, 1, 3):
                tg.start_soon(worker, n)
        assert finished == [1, 3, 5]

        async def failing() -> None:
            await anyio.sleep(0.001)
            raise KeyError("boom")

        cancelled = anyio.Event()

        async def sleeper() -> None:
            try:
                await anyio.sleep(30)
            except anyio.get_cancelled_exc_class():
                cancelled.set()
                raise

        with pytest.raises(ExceptionGroup) as group:
            async with anyio.create_task_group() as tg:
                tg.start_soon(sleeper)
                tg.start_soon(failing)
        assert [type(e) for e in group.value.exceptions] == [KeyError]
        assert cancelled.is_set()

        with anyio.move_on_after(0.02) as scope:
            await anyio.sleep(30)
        assert scope.cancelled_caught
        with pytest.raises(TimeoutError), anyio.fail_after(0.02):
            await anyio.sleep(30)

        # worker threads: to_thread, and from_thread back onto the loop
        async def back_on_loop() -> bool:
            runner.check()
            return threading.current_thread() is threading.main_thread()

        def in_thread() -> tuple[bool, bool]:
            here = threading.current_thread() is threading.main_thread()
            return here, anyio.from_thread.run(back_on_loop)

        assert await anyio.to_thread.run_sync(in_thread) == (False, True)

        send, receive = anyio.create_memory_object_stream[int](max_buffer_size=4)

        async def produce() -> None:
            async with send:
                for i in range(100):
                    await send.send(i)

        got: list[int] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(produce)
            async with receive:
                async for item in receive:
                    got.append(item)
        assert got == list(range(100))

    runner.run(main)


async def _echo(stream: SocketStream | TLSStream) -> None:
    async with stream:
        try:
            while True:
                await stream.send(await stream.receive())
        except anyio.EndOfStream:
            pass


async def _round_trip(stream: SocketStream | TLSStream) -> None:
    digest, size = hashlib.sha256(), 0

    async def reader() -> None:
        nonlocal size
        while size < SIZE:
            piece = await stream.receive()
            digest.update(piece)
            size += len(piece)

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        for piece in pattern(SIZE, seed=2):
            await stream.send(piece)
    assert (size, digest.hexdigest()) == (SIZE, pattern_digest(SIZE, seed=2))


def test_tcp_listener_and_connect_tcp(runner: LoopRunner) -> None:
    async def main() -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = listener.extra(SocketAttribute.local_port)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, _echo)
            clients = []
            for _ in range(5):
                clients.append(await anyio.connect_tcp("127.0.0.1", port))
            async with anyio.create_task_group() as inner:
                for client in clients:
                    inner.start_soon(_round_trip, client)
            for client in clients:
                assert client.extra(SocketAttribute.remote_port) == port
                await client.send_eof()
                with pytest.raises(anyio.EndOfStream):
                    await client.receive()
                await client.aclose()
            tg.cancel_scope.cancel()

    runner.run(main)


def test_anyio_tls_over_tcp(runner: LoopRunner, tls: TLS) -> None:
    """anyio's own TLS (ssl.MemoryBIO over the TCP stream), not the loop's."""

    async def main() -> None:
        inner = await anyio.create_tcp_listener(local_host="127.0.0.1")
        port = inner.extra(SocketAttribute.local_port)
        listener = TLSListener(inner, tls.server, standard_compatible=False)
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, _echo)
            client = await anyio.connect_tcp(
                "127.0.0.1", port, ssl_context=tls.client, tls_standard_compatible=False
            )
            async with client:
                await _round_trip(client)
            tg.cancel_scope.cancel()

    runner.run(main)
