"""subprocess_exec/subprocess_shell, the SubprocessTransport and child exit watching, on
layerloop (pidfd and thread watches) and on asyncio's loop (the oracle)."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from typing import Any

import pytest

from layerloop_selector import new_backend
from layerloop_subprocess import pidfd_usable
from layerloop_subprocess._watch import PidfdWatch, ThreadWatch
from subprocess_helpers import (
    Recorder,
    SubprocessLoop,
    ThreadWatchLoop,
    is_ours,
    open_fds,
    pid_alive,
    zombie_children,
)

PY = sys.executable


def _run(loop: asyncio.AbstractEventLoop, coro: Any, timeout: float = 60) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def _wait_until(predicate: Any, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_cat_10mb_both_ways(loop: asyncio.AbstractEventLoop) -> None:
    payload = os.urandom(10 * 1024 * 1024)

    async def main() -> None:
        proc = await asyncio.create_subprocess_exec(
            "cat", stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        out, err = await proc.communicate(payload)
        assert err is None
        assert proc.returncode == 0
        assert hashlib.sha256(out).digest() == hashlib.sha256(payload).digest()

    _run(loop, main())


def test_cat_with_a_protocol_and_callback_order(loop: asyncio.AbstractEventLoop) -> None:
    payload = os.urandom(3 * 1024 * 1024)

    async def main() -> None:
        transport, proto = await loop.subprocess_exec(Recorder, "cat")
        assert isinstance(transport, asyncio.SubprocessTransport)
        assert proto.events == ["made"]
        stdin = transport.get_pipe_transport(0)
        assert isinstance(stdin, asyncio.WriteTransport)
        assert isinstance(transport.get_pipe_transport(1), asyncio.ReadTransport)
        assert transport.get_pipe_transport(3) is None
        assert transport.get_extra_info("subprocess").pid == transport.get_pid()
        stdin.write(payload)
        stdin.close()
        assert await proto.exited == 0
        assert await proto.lost is None
        assert hashlib.sha256(proto.data[1]).digest() == hashlib.sha256(payload).digest()
        assert proto.events[-1] == "lost"
        lost = [event for event in proto.events if event[0] == "pipe_lost"]
        assert sorted(lost) == [
            ("pipe_lost", 0, None),
            ("pipe_lost", 1, None),
            ("pipe_lost", 2, None),
        ]
        # Every data callback comes before its pipe's loss.
        last_data = max(i for i, event in enumerate(proto.events) if event == ("data", 1))
        assert last_data < proto.events.index(("pipe_lost", 1, None))
        assert transport.get_returncode() == 0
        transport.close()

    _run(loop, main())


def test_200_concurrent_children_leave_no_zombie_and_no_fd(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def one(i: int) -> None:
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", f"echo {i}; exit {i % 7}", stdout=subprocess.PIPE
        )
        out, _ = await proc.communicate()
        assert out == f"{i}\n".encode()
        assert proc.returncode == i % 7

    async def main() -> None:
        await one(0)  # warm up whatever is created once (threads, executor...)
        before = open_fds()
        await asyncio.gather(*(one(i) for i in range(200)))
        assert zombie_children() == []
        assert open_fds() == before

    _run(loop, main(), timeout=120)


def test_child_killed_mid_write(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        # The child reads a little, then blocks forever: our writes fill the pipe.
        transport, proto = await loop.subprocess_exec(
            Recorder, PY, "-c", "import sys, time; sys.stdin.buffer.read(10); time.sleep(60)"
        )
        stdin = transport.get_pipe_transport(0)
        stdin.write(b"z" * (4 * 1024 * 1024))
        await asyncio.sleep(0.1)
        assert stdin.get_write_buffer_size() > 0
        transport.kill()
        assert await proto.exited == -signal.SIGKILL
        await proto.lost
        # The reader went away with bytes still queued: a broken pipe.
        assert ("pipe_lost", 0, "BrokenPipeError") in proto.events
        assert proto.events[-1] == "lost"
        transport.close()

    _run(loop, main())


def test_preexec_fn_raising(loop: asyncio.AbstractEventLoop) -> None:
    def boom() -> None:
        raise RuntimeError("no")

    async def main() -> None:
        before = open_fds()
        with warnings.catch_warnings():
            # preexec_fn with threads running warns on 3.12+; irrelevant here.
            warnings.simplefilter("ignore", DeprecationWarning)
            with pytest.raises(subprocess.SubprocessError):
                await loop.subprocess_exec(Recorder, "true", preexec_fn=boom)
        assert open_fds() == before
        assert zombie_children() == []

    _run(loop, main())


@pytest.mark.parametrize("how", ["exec", "shell"])
def test_missing_executable(loop: asyncio.AbstractEventLoop, how: str) -> None:
    async def main() -> None:
        before = open_fds()
        if how == "exec":
            with pytest.raises(FileNotFoundError):
                await loop.subprocess_exec(Recorder, "/nonexistent/layerloop-no-such-program")
        else:
            # The shell starts and reports 127 itself.
            transport, proto = await loop.subprocess_shell(
                Recorder, "/nonexistent/layerloop-no-such-program"
            )
            assert await proto.exited == 127
            await proto.lost
            transport.close()
        gc.collect()
        assert open_fds() == before
        assert zombie_children() == []

    _run(loop, main())


def test_signals_after_exit(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        transport, proto = await loop.subprocess_exec(
            Recorder, PY, "-c", "import sys; sys.stdout.buffer.write(b'x' * 100)"
        )
        await proto.exited
        # Exited (and reaped), not finished yet or just finished: no error while the
        # transport still has its process.
        if not proto.lost.done():
            transport.send_signal(signal.SIGTERM)
        await proto.lost
        for method in (transport.kill, transport.terminate):
            with pytest.raises(ProcessLookupError):
                method()
        with pytest.raises(ProcessLookupError):
            transport.send_signal(signal.SIGUSR1)
        transport.close()

        proc = await asyncio.create_subprocess_exec("true")
        assert await proc.wait() == 0
        with pytest.raises(ProcessLookupError):
            proc.kill()
        with pytest.raises(ProcessLookupError):
            proc.send_signal(signal.SIGINT)

    _run(loop, main())


def test_terminate_and_send_signal(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        proc = await asyncio.create_subprocess_exec("sleep", "30")
        proc.terminate()
        assert await proc.wait() == -signal.SIGTERM
        proc = await asyncio.create_subprocess_exec("sleep", "30")
        proc.send_signal(signal.SIGUSR1)
        assert await proc.wait() == -signal.SIGUSR1

    _run(loop, main())


def test_close_kills_a_running_child(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        transport, proto = await loop.subprocess_exec(Recorder, "sleep", "30")
        pid = transport.get_pid()
        transport.close()
        assert transport.is_closing()
        assert await proto.exited == -signal.SIGKILL
        await proto.lost
        assert not pid_alive(pid)

    _run(loop, main())


def test_unclosed_transport_warns(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        transport, proto = await loop.subprocess_exec(Recorder, "true")
        await proto.lost  # finished, but never closed
        del transport, proto

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _run(loop, main())
        gc.collect()
    assert any(
        issubclass(w.category, ResourceWarning) and "unclosed transport" in str(w.message)
        for w in seen
    )


def test_std_streams_every_kind(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
            code = (
                "import sys; print('out'); print('err', file=sys.stderr); print(sys.stdin.read())"
            )
            # stdout to a file object, stderr to an fd, stdin from /dev/null.
            proc = await asyncio.create_subprocess_exec(
                PY,
                "-c",
                code,
                stdin=subprocess.DEVNULL,
                stdout=out_file,
                stderr=err_file.fileno(),
            )
            assert await proc.wait() == 0
            out_file.seek(0)
            err_file.seek(0)
            assert out_file.read() == b"out\n\n"
            assert err_file.read() == b"err\n"
            assert not out_file.closed  # not ours to close
        # stderr=STDOUT merges into the stdout pipe.
        proc = await asyncio.create_subprocess_exec(
            PY, "-c", code, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        out, err = await proc.communicate(b"in")
        assert err is None
        assert sorted(out.split()) == [b"err", b"in", b"out"]

    _run(loop, main())


def test_program_names_and_popen_keywords(loop: asyncio.AbstractEventLoop, tmp_path: Any) -> None:
    async def main() -> None:
        for program in (PY, os.fsencode(PY), pathlib.Path(PY)):
            proc = await asyncio.create_subprocess_exec(
                program,
                "-c",
                "import os; print(os.getcwd(), os.environ['LL_X'], os.getsid(0) == os.getpid())",
                stdout=subprocess.PIPE,
                cwd=tmp_path,
                env={"LL_X": "yes", "PATH": os.environ.get("PATH", "")},
                start_new_session=True,
            )
            out, _ = await proc.communicate()
            assert out.decode().split() == [str(tmp_path), "yes", "True"]
        read_end, write_end = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                PY, "-c", f"import os; os.write({write_end}, b'passed')", pass_fds=(write_end,)
            )
            assert await proc.wait() == 0
            assert os.read(read_end, 10) == b"passed"
        finally:
            os.close(read_end)
            os.close(write_end)
        proc = await asyncio.create_subprocess_shell(b"echo $((6 * 7))", stdout=subprocess.PIPE)
        out, _ = await proc.communicate()
        assert out == b"42\n"

    _run(loop, main())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"universal_newlines": True}, "universal_newlines must be False"),
        ({"bufsize": 1}, "bufsize must be 0"),
        ({"text": True}, "text must be False"),
        ({"encoding": "utf-8"}, "encoding must be None"),
        ({"errors": "strict"}, "errors must be None"),
    ],
)
def test_rejected_arguments(
    loop: asyncio.AbstractEventLoop, kwargs: dict[str, Any], message: str
) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match=f"^{message}$"):
            await loop.subprocess_exec(Recorder, "true", **kwargs)
        with pytest.raises(ValueError, match=f"^{message}$"):
            await loop.subprocess_shell(Recorder, "true", **kwargs)
        with pytest.raises(ValueError, match=r"^shell must be False$"):
            await loop.subprocess_exec(Recorder, "true", shell=True)
        with pytest.raises(ValueError, match=r"^shell must be True$"):
            await loop.subprocess_shell(Recorder, "true", shell=False)
        with pytest.raises(ValueError, match=r"^cmd must be a string$"):
            await loop.subprocess_shell(Recorder, ["true"])  # type: ignore[arg-type]

    _run(loop, main())


def test_other_childrens_exit_is_not_reaped(loop: asyncio.AbstractEventLoop) -> None:
    foreign = subprocess.Popen(["sh", "-c", "exit 7"])
    try:

        async def main() -> None:
            assert _wait_until(lambda: foreign.pid in zombie_children())
            for _ in range(5):
                proc = await asyncio.create_subprocess_exec("true")
                assert await proc.wait() == 0
            assert foreign.pid in zombie_children()  # still ours to reap, not the loop's

        _run(loop, main())
        assert foreign.wait() == 7
    finally:
        foreign.wait()


def test_loop_in_a_non_main_thread(loop: asyncio.AbstractEventLoop) -> None:
    results: list[Any] = []

    async def main() -> None:
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", "cat; exit 5", stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        results.append(await proc.communicate(b"thread"))
        results.append(proc.returncode)

    factory = type(loop)

    def runner() -> None:
        made = factory(loop.backend.__class__()) if is_ours(loop) else asyncio.new_event_loop()  # type: ignore[attr-defined]
        try:
            made.run_until_complete(asyncio.wait_for(main(), 30))
        except BaseException as exc:
            results.append(exc)
        finally:
            made.close()

    thread = threading.Thread(target=runner)
    thread.start()
    thread.join(60)
    assert results == [(b"thread", None), 5]


@pytest.mark.parametrize("loop_class", [SubprocessLoop, ThreadWatchLoop])
def test_loop_closed_with_children_running(loop_class: type[SubprocessLoop]) -> None:
    made = loop_class(new_backend("auto"))
    keep: list[Any] = []

    async def main() -> int:
        transport, _ = await made.subprocess_exec(
            asyncio.SubprocessProtocol, "sleep", "0.5", stdin=None, stdout=None, stderr=None
        )
        keep.append(transport)
        pid: int = transport.get_pid()
        return pid

    pid = made.run_until_complete(main())
    made.close()
    assert pid_alive(pid)  # not killed by the loop's close
    # It exits on its own and is reaped although no loop runs any more.
    assert _wait_until(lambda: not pid_alive(pid))
    assert zombie_children() == []
    keep.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_watch_kinds(loop: asyncio.AbstractEventLoop) -> None:
    if not is_ours(loop):
        pytest.skip("layerloop's watches only")

    async def main() -> None:
        transport, proto = await loop.subprocess_exec(Recorder, "sleep", "0.1")
        expected = (
            ThreadWatch if isinstance(loop, ThreadWatchLoop) or not pidfd_usable() else PidfdWatch
        )
        assert type(transport._watch) is expected
        threads_before = threading.active_count()
        assert await proto.exited == 0
        await proto.lost
        assert transport._watch is None
        if expected is PidfdWatch:
            assert threading.active_count() == threads_before  # no thread at all
        transport.close()

    _run(loop, main())


def test_child_reaped_by_popen_keeps_its_returncode(loop: asyncio.AbstractEventLoop) -> None:
    if not is_ours(loop):
        pytest.skip(
            "asyncio's watchers report 255 (status lost) when Popen reaped the child first; "
            "layerloop takes the status Popen got"
        )

    async def main() -> None:
        transport, proto = await loop.subprocess_exec(Recorder, "sh", "-c", "exit 9")
        # Other code reaps our child through the public Popen object, synchronously.
        assert transport.get_extra_info("subprocess").wait() == 9
        assert await proto.exited == 9
        await proto.lost
        assert transport.get_returncode() == 9
        transport.close()

    _run(loop, main())
