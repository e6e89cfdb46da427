"""Throwaway PostgreSQL and Redis servers on loopback, for the real-library tests.

``tests-integration/libs/`` drives asyncpg and redis-py against real servers.  This
module makes those servers exist and go away again:

* :func:`ensure_installed` installs the Debian packages (``postgresql``,
  ``redis-server``) with ``apt-get`` when their programs are missing.  Services that a
  package's maintainer script would start are held back for the duration of the install
  (a ``policy-rc.d`` that answers 101, "action forbidden", is put in place if the machine
  has none), so installing leaves nothing running.
* :func:`postgres` and :func:`redis` are context managers that start one private server
  on ``127.0.0.1`` on a free port, in a fresh temporary directory, wait until it answers,
  and on exit stop it, wait for the process, and delete the directory.

PostgreSQL refuses to run as root: when we are root, ``initdb`` and ``postgres`` run as
the ``postgres`` account (created by the Debian package) and the temporary directory is
handed to it.  Whatever cannot be done (no ``apt-get``, not root, the install failed, the
server did not come up) raises :class:`ServiceUnavailable` with the reason.

Command line, for a developer::

    python3 tools/services.py install postgresql redis   # only what is missing
    python3 tools/services.py run postgresql             # a server until Ctrl-C
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

# Debian packages, setuid children, POSIX signals: nothing here exists on Windows (mypy
# stops reading the module at this assert when it checks for win32).
assert sys.platform != "win32", "tools/services.py is for Debian-like systems"

__all__ = [
    "DEBIAN_PACKAGES",
    "PostgresServer",
    "RedisServer",
    "ServiceUnavailable",
    "ensure_installed",
    "free_port",
    "postgres",
    "redis",
]

#: service name -> the Debian packages that provide it.
DEBIAN_PACKAGES: dict[str, tuple[str, ...]] = {
    "postgresql": ("postgresql",),
    "redis": ("redis-server",),
}

LOOPBACK = "127.0.0.1"
#: How long a server may take to answer after it was started (initdb not included).
START_TIMEOUT = 60.0
#: How long a stopped server may take to exit before it is killed.
STOP_TIMEOUT = 20.0
APT_TIMEOUT = 900.0
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


class ServiceUnavailable(RuntimeError):
    """The service cannot be installed or started here; the message says why."""


# -- installing -----------------------------------------------------------------------


def _postgres_bindir() -> Path | None:
    """Debian keeps the server programs in ``/usr/lib/postgresql/<major>/bin`` (off PATH);
    the newest major version wins."""
    found: list[tuple[int, Path]] = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            with contextlib.suppress(ValueError):
                found.append((int(bindir.parent.name), bindir))
    return max(found)[1] if found else None


def _is_installed(service: str) -> bool:
    if service == "postgresql":
        return _postgres_bindir() is not None
    if service == "redis":
        return shutil.which("redis-server") is not None
    raise ValueError(f"unknown service {service!r} (known: {', '.join(DEBIAN_PACKAGES)})")


@contextlib.contextmanager
def _services_held_back() -> Iterator[None]:
    """Forbid maintainer scripts to start services while apt-get runs (invoke-rc.d asks
    ``/usr/sbin/policy-rc.d``; exit status 101 means "forbidden")."""
    if POLICY_RC_D.exists():
        yield  # the machine already has a policy (container images forbid everything)
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# layerloop tools/services.py, during apt-get\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def _apt_get(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = ["apt-get", "-q", "-y", "-o", "DPkg::Lock::Timeout=300", *args]
    print("services:", " ".join(command), flush=True)
    try:
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceUnavailable(
            f"{' '.join(command)} did not finish in {APT_TIMEOUT:.0f} s"
        ) from exc


def ensure_installed(services: Sequence[str]) -> None:
    """Install the Debian packages of every service in ``services`` that is missing.

    ``apt-get install`` is tried first; if it fails (on a fresh machine the package
    lists are empty) ``apt-get update`` runs once and the install is retried.
    """
    missing = [s for s in services if not _is_installed(s)]
    if not missing:
        return
    packages = [p for s in missing for p in DEBIAN_PACKAGES[s]]
    wanted = " ".join(packages)
    if shutil.which("apt-get") is None:
        raise ServiceUnavailable(
            f"{', '.join(missing)} not installed and there is no apt-get here "
            f"(not a Debian-like system): install {wanted} by hand"
        )
    if os.geteuid() != 0:
        raise ServiceUnavailable(
            f"{', '.join(missing)} not installed and apt-get needs root: "
            f"run `sudo apt-get install {wanted}`"
        )
    install = ("install", "--no-install-recommends", *packages)
    with _services_held_back():
        done = _apt_get(*install)
        if done.returncode != 0:
            update = _apt_get("update")
            if update.returncode != 0:
                raise ServiceUnavailable(f"apt-get update failed:\n{update.stderr.strip()}")
            done = _apt_get(*install)
    still = [s for s in missing if not _is_installed(s)]
    if done.returncode != 0 or still:
        raise ServiceUnavailable(
            f"apt-get install {wanted} failed (exit {done.returncode}):\n{done.stderr.strip()}"
        )


# -- running ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send ``sig``; after STOP_TIMEOUT, SIGKILL.  Returns once the process is reaped."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


#: prctl(2) option: the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: receive SIGTERM if ``parent``, which started the server,
    dies without stopping it (pytest-timeout's thread method ends pytest with
    ``os._exit``, which runs no fixture teardown).  Linux only; elsewhere a no-op.
    Runs after Popen's setuid (a credential change clears the setting)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # it died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)


#: In each server directory: the pid of the process that made it (and must delete it).
_OWNER = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _new_directory(kind: str) -> Path:
    """A fresh ``layerloop-<kind>-*`` temporary directory, recording its owner.  Those
    left behind by an owner that died without cleaning up (ended by ``os._exit``; its
    server went with it, see :func:`_die_with_parent`) are deleted first."""
    prefix = f"layerloop-{kind}-"
    for stale in Path(tempfile.gettempdir()).glob(prefix + "*"):
        try:
            owner = int((stale / _OWNER).read_text())
        except (OSError, ValueError):
            continue  # not ours, or being set up right now
        if not _alive(owner):
            shutil.rmtree(stale, ignore_errors=True)
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    (directory / _OWNER).write_text(str(os.getpid()))
    return directory


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if process.poll() is not None:
            raise ServiceUnavailable(
                f"{what} exited with status {process.returncode} while starting:\n" + _log_tail(log)
            )
        if time.monotonic() > deadline:
            raise ServiceUnavailable(
                f"{what} did not answer within {START_TIMEOUT:.0f} s:\n" + _log_tail(log)
            )
        time.sleep(0.05)


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A running throwaway cluster: superuser ``user``, database ``database``, trust
    authentication on loopback (no password)."""

    host: str
    port: int
    user: str
    database: str
    directory: Path
    pid: int

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True, slots=True)
class RedisServer:
    host: str
    port: int
    directory: Path
    pid: int

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"


def _postgres_identity() -> _Identity:
    """Whom to run PostgreSQL as: ``postgres`` when we are root (the server refuses
    root), else ourselves."""
    if os.geteuid() != 0:
        return _Identity()
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServiceUnavailable(
            "running as root and there is no `postgres` account to run PostgreSQL as "
            "(the Debian package creates it)"
        ) from exc
    return _Identity(entry.pw_uid, entry.pw_gid, [])


@dataclass(frozen=True, slots=True)
class _Identity:
    """Popen's ``user``/``group``/``extra_groups``: the child drops root for this account
    (setgroups, setgid, setuid) before exec; all None means "stay who we are"."""

    uid: int | None = None
    gid: int | None = None
    groups: list[int] | None = None


@contextlib.contextmanager
def postgres(*, install: bool = True) -> Iterator[PostgresServer]:
    """A fresh PostgreSQL cluster on 127.0.0.1:<free port>, removed on exit."""
    if install:
        ensure_installed(["postgresql"])
    bindir = _postgres_bindir()
    if bindir is None:
        raise ServiceUnavailable(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin): "
            "run `python3 tools/services.py install postgresql`"
        )
    who = _postgres_identity()
    directory = _new_directory("postgres")
    try:
        if who.uid is not None and who.gid is not None:
            os.chown(directory, who.uid, who.gid)
        data, log = directory / "data", directory / "server.log"
        user = "postgres"
        home = {"HOME": str(directory), "LC_ALL": "C.UTF-8", "PATH": os.environ.get("PATH", "")}
        initdb = subprocess.run(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                user,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            env=home,
            cwd=directory,
            timeout=START_TIMEOUT,
            check=False,
            user=who.uid,
            group=who.gid,
            extra_groups=who.groups,
        )
        if initdb.returncode != 0:
            raise ServiceUnavailable(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
        # Durability is pointless for a cluster deleted after the run: no fsync at all.
        settings = {
            "listen_addresses": LOOPBACK,
            "unix_socket_directories": str(directory),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "60",
        }
        options = [arg for name, value in settings.items() for arg in ("-c", f"{name}={value}")]
        for attempt in range(3):  # a free port may be taken before the server binds it
            port = free_port()
            with log.open("ab") as log_file:
                process: subprocess.Popen[bytes] = subprocess.Popen(
                    [str(bindir / "postgres"), "-D", str(data), "-p", str(port), *options],
                    stdin=subprocess.DEVNULL,
                    preexec_fn=partial(_die_with_parent, os.getpid()),  # noqa: PLW1509 (prctl, getppid, kill only)
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=home,
                    cwd=directory,
                    user=who.uid,
                    group=who.gid,
                    extra_groups=who.groups,
                )
            try:
                _wait_until(partial(_postgres_ready, bindir, port), process, "postgres", log)
            except ServiceUnavailable:
                _stop(process, signal.SIGQUIT)
                if attempt == 2 or "already in use" not in _log_tail(log):
                    raise
                continue
            try:
                yield PostgresServer(LOOPBACK, port, user, "postgres", directory, process.pid)
            finally:
                # SIGINT: "fast shutdown" (roll back open transactions, disconnect, exit)
                _stop(process, signal.SIGINT)
            return
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _postgres_ready(bindir: Path, port: int) -> bool:
    probe = subprocess.run(
        [str(bindir / "pg_isready"), "-q", "-h", LOOPBACK, "-p", str(port), "-t", "2"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    return probe.returncode == 0


def _redis_ready(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis(*, install: bool = True) -> Iterator[RedisServer]:
    """A fresh redis-server on 127.0.0.1:<free port> without persistence, removed on
    exit."""
    if install:
        ensure_installed(["redis"])
    program = shutil.which("redis-server")
    if program is None:
        raise ServiceUnavailable(
            "redis-server is not installed: run `python3 tools/services.py install redis`"
        )
    directory = _new_directory("redis")
    log = directory / "server.log"
    try:
        for attempt in range(3):
            port = free_port()
            with log.open("ab") as log_file:
                process: subprocess.Popen[bytes] = subprocess.Popen(
                    [
                        program,
                        "--port",
                        str(port),
                        "--bind",
                        LOOPBACK,
                        "--dir",
                        str(directory),
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--daemonize",
                        "no",
                        "--unixsocket",
                        "",
                        "--logfile",
                        "",
                    ],
                    stdin=subprocess.DEVNULL,
                    preexec_fn=partial(_die_with_parent, os.getpid()),  # noqa: PLW1509 (prctl, getppid, kill only)
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    cwd=directory,
                )
            try:
                _wait_until(partial(_redis_ready, port), process, "redis-server", log)
            except ServiceUnavailable:
                _stop(process, signal.SIGKILL)
                if attempt == 2 or "in use" not in _log_tail(log):
                    raise
                continue
            try:
                yield RedisServer(LOOPBACK, port, directory, process.pid)
            finally:
                _stop(process, signal.SIGTERM)
            return
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- command line ------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:
    usage = "usage: services.py install SERVICE... | run SERVICE   (services: postgresql, redis)"
    if len(argv) < 2 or argv[0] not in ("install", "run"):
        print(usage, file=sys.stderr)
        return 2
    unknown = [s for s in argv[1:] if s not in DEBIAN_PACKAGES]
    if unknown:
        print(f"unknown service(s): {', '.join(unknown)}\n{usage}", file=sys.stderr)
        return 2
    try:
        if argv[0] == "install":
            ensure_installed(argv[1:])
            print("services: installed:", ", ".join(argv[1:]))
            return 0
        if len(argv) != 2:
            print(usage, file=sys.stderr)
            return 2
        manager = postgres() if argv[1] == "postgresql" else redis()
        with manager as server:
            print(f"services: {server!r} (Ctrl-C stops it)", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        return 0
    except ServiceUnavailable as exc:
        print(f"services: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
