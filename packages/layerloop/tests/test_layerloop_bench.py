"""The benchmark harness: cases, the child runner and the report."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Callable

import pytest

import layerloop
from layerloop._bench import _io_cases as io_cases
from layerloop._bench import _runner
from layerloop._bench._cases import CASES
from layerloop._bench._child import LoopUnavailable, make_loop
from layerloop._bench._io_cases import CLIENT, CaseUnavailable
from layerloop._bench._runner import Measurement, Report, format_report
from layerloop_selector import available_backends

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "layerloop": layerloop.new_event_loop,
    "asyncio": asyncio.new_event_loop,
}


#: I/O cases whose server feature layerloop-transports is still building: on layerloop
#: they may report themselves unavailable (and must say which feature); asyncio runs all.
UNBUILT = {"udp_1k": "create_datagram_endpoint", "tls_1k": "ssl="}


@pytest.mark.parametrize("loop_name", list(LOOPS))
@pytest.mark.parametrize("case_name", list(CASES))
def test_every_case_runs_on_every_loop(case_name: str, loop_name: str) -> None:
    case = CASES[case_name]
    if case.timed and shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk); nox -s bench installs it")
    loop = LOOPS[loop_name]()
    try:
        # A timed case's n is milliseconds: wrk runs whole seconds.  An echo case runs
        # two round trips per connection here, not its benchmark minimum.
        if case.timed:
            n = 1000
        elif case.io:
            n = 2 * io_cases.CONNECTIONS
        else:
            n = case.minimum * 3
        ops, seconds = case.run(loop, n)
    except CaseUnavailable as exc:
        if loop_name == "asyncio" or case_name not in UNBUILT:
            raise
        assert UNBUILT[case_name] in str(exc)
        return
    finally:
        loop.close()
    if case.io and not case.timed:
        assert ops == n
    else:
        assert ops >= case.minimum
    assert seconds > 0
    assert not loop.is_running()


def test_io_client_counts_round_trips_of_an_echo() -> None:
    """The client process against a server that echoes only half of each message must
    not finish (it waits for the whole echo): it is killed by the timeout."""

    class HalfEcho(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.transport.write(data[: len(data) // 2])  # type: ignore[attr-defined]

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(HalfEcho, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, CLIENT, "tcp", f"127.0.0.1:{port}", "2", "1000", "4",
            stdout=subprocess.PIPE,
        )  # fmt: skip
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(proc.wait(), 1.0)
        proc.kill()
        await proc.wait()
        server.close()

    asyncio.run(main())


def test_io_client_reports_what_it_did() -> None:
    loop = asyncio.new_event_loop()
    try:
        ops, seconds = io_cases.echo("tcp", "protocol", 2048, loop, 37)
    finally:
        loop.close()
    assert ops == 37
    assert 0 < seconds < 60
    # The server's CPU per round trip: something, and less than the whole run per op.
    cpu = io_cases.last_server_cpu_per_op
    assert cpu is not None
    assert 0 < cpu < 60 / 37


def test_io_geomean() -> None:
    report = Report(["layerloop-epoll", "uvloop"], ["tcp_protocol_1k", "unix_protocol_1k"],
                    seconds=0.1, repeat=1, quick=True)  # fmt: skip
    for case, mine, theirs in (("tcp_protocol_1k", 200.0, 100.0), ("unix_protocol_1k", 50, 100)):
        report.results[case, "layerloop-epoll"] = Measurement(case, "layerloop-epoll", [mine])
        report.results[case, "uvloop"] = Measurement(case, "uvloop", [theirs])
    found = report.io_geomean("layerloop-epoll", "uvloop")
    assert found is not None
    assert found[0] == pytest.approx(1.0)  # sqrt(2.0 * 0.5)
    assert found[1] == 2
    assert report.io_geomean("layerloop-epoll", "asyncio") is None
    assert "vs uvloop 1.00x (2 cases)" in format_report(report)


def test_io_cpu_geomean_inverts_cpu_per_op() -> None:
    report = Report(["layerloop-epoll", "asyncio"], ["tcp_protocol_1k", "unix_protocol_1k"],
                    seconds=0.1, repeat=1, quick=True)  # fmt: skip
    for case, mine, theirs in (
        ("tcp_protocol_1k", 10e-6, 20e-6),
        ("unix_protocol_1k", 10e-6, 80e-6),
    ):
        report.results[case, "layerloop-epoll"] = Measurement(
            case, "layerloop-epoll", [1.0], cpu=[mine, 2 * mine]
        )
        report.results[case, "asyncio"] = Measurement(case, "asyncio", [1.0], cpu=[theirs])
    # asyncio spends 2x and 8x the CPU per operation: geometric mean 4x.
    found = report.io_cpu_geomean("layerloop-epoll", "asyncio")
    assert found is not None
    assert found[0] == pytest.approx(4.0)
    assert report.cpu_ratio("tcp_protocol_1k", "asyncio", "layerloop-epoll") == 0.5
    assert report.io_cpu_geomean("layerloop-epoll", "uvloop") is None


def test_make_loop_names() -> None:
    for name in ("asyncio", "layerloop", *(f"layerloop-{b}" for b in available_backends())):
        loop = make_loop(name)
        try:
            assert isinstance(loop, asyncio.AbstractEventLoop)
            if name.startswith("layerloop-"):
                assert isinstance(loop, layerloop.EventLoop)
                assert loop.backend.name == name.partition("-")[2]
        finally:
            loop.close()
    for bad in ("layerloop-nope", "tokio"):
        with pytest.raises(LoopUnavailable):
            make_loop(bad)


def test_child_reports_samples() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "layerloop._bench._child", "layerloop", "tasks", "0.01", "2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout.strip().splitlines()[-1])
    assert payload["case"] == "tasks"
    assert payload["loop"] == "layerloop"
    assert len(payload["samples"]) == 2
    assert all(s > 0 for s in payload["samples"])


def test_child_reports_an_unavailable_loop() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "layerloop._bench._child", "layerloop-nope", "tasks", "0.01", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3
    assert "unknown backend" in json.loads(proc.stdout)["unavailable"]


def test_every_child_gets_a_fresh_heap_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each run's environment carries a padding of its own length, so that the offsets
    inside pages of what the child allocates (which decide 4K-aliasing stalls in its
    copies) differ from run to run instead of favouring one loop in every run."""
    pads: list[str] = []
    monkeypatch.setenv(_runner.LAYOUT_VARIABLE, "left over")

    def fake_run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        env = kwargs["env"]
        assert isinstance(env, dict)
        pads.append(env[_runner.LAYOUT_VARIABLE])
        payload = {"samples": [1.0], "ops": 1}
        return subprocess.CompletedProcess(command, 0, json.dumps(payload), "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    for _ in range(20):
        measurement = _runner._run_child("tasks", "asyncio", 0.01, None)
        assert measurement.problem is None
    assert len(pads) == 20
    assert all(set(pad) == {"."} or pad == "" for pad in pads)
    assert len({len(pad) for pad in pads}) >= 10  # 256 possible lengths


def synthetic_report() -> Report:
    report = Report(
        ["layerloop-epoll", "layerloop-poll", "asyncio", "uvloop"],
        ["call_soon", "getaddrinfo"],
        seconds=0.1,
        repeat=3,
        quick=True,
    )
    rates = {
        ("call_soon", "layerloop-epoll"): [300.0, 200.0, 250.0],
        ("call_soon", "layerloop-poll"): [140.0],
        ("call_soon", "asyncio"): [100.0, 90.0],
        ("call_soon", "uvloop"): [400.0],
        ("getaddrinfo", "layerloop-epoll"): [2500.0],
        ("getaddrinfo", "layerloop-poll"): [2100.0],
        ("getaddrinfo", "asyncio"): [100.0],
    }
    for (case, loop), samples in rates.items():
        report.results[case, loop] = Measurement(case, loop, samples=samples, ops=10)
    report.results["getaddrinfo", "uvloop"] = Measurement(
        "getaddrinfo", "uvloop", problem="unavailable: uvloop is not installed"
    )
    return report


def test_report_ratios_use_the_best_sample() -> None:
    report = synthetic_report()
    assert report.ratio("call_soon", "layerloop-epoll", "asyncio") == 3.0
    assert report.ratio("call_soon", "layerloop-epoll", "uvloop") == 0.75
    assert report.ratio("getaddrinfo", "layerloop-epoll", "uvloop") is None
    assert report.results["call_soon", "layerloop-epoll"].median == 250.0


def test_report_targets_take_the_worst_backend() -> None:
    report = synthetic_report()
    targets = {case: (target, worst, loop) for case, target, worst, loop in report.targets()}
    assert targets["call_soon"] == (1.5, 1.4, "layerloop-poll")  # 140/100 misses 1.5x
    assert targets["getaddrinfo"] == (20.0, 21.0, "layerloop-poll")
    assert report.missed_targets() == ["call_soon"]


def test_report_table_and_json() -> None:
    report = synthetic_report()
    text = format_report(report)
    assert "MISSED" in text and "met" in text
    assert "3.00x" in text  # layerloop-epoll vs asyncio on call_soon
    assert "uvloop is not installed" in text
    data = report.to_json()
    json.dumps(data)  # serialisable
    by_pair = {(r["case"], r["loop"]): r for r in data["results"]}
    assert by_pair["call_soon", "asyncio"]["vs_asyncio"] == 1.0
    assert by_pair["call_soon", "layerloop-epoll"]["best"] == 300.0
    assert {t["case"]: t["met"] for t in data["targets"]} == {
        "call_soon": False,
        "getaddrinfo": True,
    }
