"""The subprocess and name-resolution benchmarks: what they measure is what they claim."""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import layerloop
from layerloop._bench import _dns_cases, _dns_server, _proc_cases
from layerloop._bench._dns_server import ANSWER, _reply
from layerloop._bench._io_cases import CaseUnavailable


def _query(name: str, qtype: int, query_id: int = 0x1234, flags: int = 0x0100) -> bytes:
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.split("."))
    return (
        struct.pack("!HHHHHH", query_id, flags, 1, 0, 0, 0)
        + labels
        + b"\0"
        + (struct.pack("!HH", qtype, 1))
    )


def test_dns_server_answers_a_with_one_record_of_ttl_zero() -> None:
    query = _query("h7.bench.test", 1)
    reply = _reply(query)
    assert reply is not None
    query_id, flags, questions, answers, authority, additional = struct.unpack_from(
        "!HHHHHH", reply
    )
    assert (query_id, questions, answers, authority, additional) == (0x1234, 1, 1, 0, 0)
    assert flags & 0x8000  # a response
    assert flags & 0x0100  # recursion desired, copied from the query
    assert flags & 0x000F == 0  # NOERROR
    question_end = len(query)
    assert reply[12:question_end] == query[12:]
    pointer, rtype, rclass, ttl, size = struct.unpack_from("!HHHIH", reply, question_end)
    assert (pointer, rtype, rclass, ttl, size) == (0xC00C, 1, 1, 0, 4)
    assert socket.inet_ntoa(reply[question_end + 12 :]) == ANSWER


def test_dns_server_answers_aaaa_with_no_records() -> None:
    reply = _reply(_query("h7.bench.test", 28))
    assert reply is not None
    assert struct.unpack_from("!HHHH", reply, 2)[1:] == (1, 0, 0)
    assert struct.unpack_from("!H", reply, 2)[0] & 0x000F == 0


@pytest.mark.parametrize(
    "datagram",
    [b"", b"\0" * 11, _query("a.test", 1, flags=0x8000), _query("a.test", 1)[:-3]],
    ids=["empty", "short", "a-response", "truncated"],
)
def test_dns_server_ignores_what_is_not_one_question(datagram: bytes) -> None:
    assert _reply(datagram) is None


_WHY_NO_NAMESPACE = _dns_cases._namespace_problem()
needs_namespace = pytest.mark.skipif(
    _WHY_NO_NAMESPACE is not None, reason=f"DNS benchmarks: {_WHY_NO_NAMESPACE}"
)


@needs_namespace
@pytest.mark.parametrize("resolver", ["threaded", "cares"])
@pytest.mark.parametrize("kind", ["asyncio", "layerloop-epoll"])
def test_a_dns_run_resolves_every_name_through_the_bench_server(kind: str, resolver: str) -> None:
    """The run checks the server's answer before the clock starts (glibc in the
    private namespace can only reach our server) and counts every lookup."""
    done = subprocess.run(
        ["unshare", "-m", "-n", sys.executable, "-m", _dns_cases.__name__, kind, resolver, "40"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert '"ops": 40' in done.stdout.splitlines()[-1]


@needs_namespace
def test_a_dns_run_fails_when_the_server_gives_another_answer(tmp_path: Path) -> None:
    """The check before the clock is real: a server answering another address fails
    the run instead of timing it."""
    server = Path(_dns_server.__file__).read_text()
    assert server.count(f'ANSWER = "{ANSWER}"') == 1
    wrong = tmp_path / "server.py"
    wrong.write_text(server.replace(f'ANSWER = "{ANSWER}"', 'ANSWER = "192.0.2.99"'))
    script = (
        "import sys; from layerloop._bench import _dns_cases\n"
        f"_dns_cases.SERVER = {str(wrong)!r}\n"
        "sys.exit(_dns_cases.main(['asyncio', 'threaded', '10']))\n"
    )
    done = subprocess.run(
        ["unshare", "-m", "-n", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "did not answer" in done.stderr
    assert "ops" not in done.stdout


def test_loop_kind_names_the_loop_to_rebuild() -> None:
    loops = [asyncio.new_event_loop(), layerloop.new_event_loop("poll")]
    try:
        assert [_dns_cases._loop_kind(loop) for loop in loops] == ["asyncio", "layerloop-poll"]
    finally:
        for loop in loops:
            loop.close()


def test_cat_run_fails_when_bytes_are_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """``head -c 1000`` in place of ``cat``: the run must not report a throughput."""
    monkeypatch.setattr(_proc_cases, "_program", lambda name: "/bin/sh")
    real_exec = asyncio.create_subprocess_exec

    async def lossy(program: str, *args: str, **kwargs: object) -> asyncio.subprocess.Process:
        return await real_exec(program, "-c", "head -c 1000", *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio, "create_subprocess_exec", lossy)
    loop = layerloop.new_event_loop()
    try:
        with pytest.raises((RuntimeError, OSError)):
            _proc_cases.subprocess_cat(loop, _proc_cases.CAT_MINIMUM)
    finally:
        loop.close()


def test_missing_program_makes_the_case_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    loop = layerloop.new_event_loop()
    try:
        with pytest.raises(CaseUnavailable, match="'true'"):
            _proc_cases.subprocess_spawn(loop, 1)
    finally:
        loop.close()


def test_cli_selects_a_family_of_benchmarks_by_prefix() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "layerloop", "bench", "--benchmarks", "subprocess",
         "--loops", "layerloop,asyncio", "--seconds", "0.01", "--repeat", "1",
         "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "subprocess_spawn" in done.stdout
    assert "subprocess_cat" in done.stdout
    assert "sock_echo" not in done.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "layerloop", "bench", "--benchmarks", "subproc"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert unknown.returncode == 2
    assert "unknown benchmark(s) subproc" in unknown.stderr
