"""The c-ares resolver: DNS lookups driven by the loop itself, no thread per lookup.

Facts this module relies on
---------------------------

* c-ares (through ``pycares``) runs a query as a state machine over sockets it opens
  itself.  Given ``sock_state_cb`` it never starts a thread: it reports each socket it
  wants watched (``readable``/``writable`` flags, both false when it is done with the
  socket), and it makes progress only when told that a socket is ready
  (``ares_process_fd``) or that time has passed (``ares_process_fd`` with two bad fds,
  after ``ares_timeout`` said how long to wait).  Callbacks run inside those calls, on
  the loop's thread.
* ``ares_cancel`` cancels *every* query of a channel.  To cancel one lookup without
  disturbing the others, each lookup gets a channel of its own, taken from a small pool
  of idle channels.  Without ``ARES_FLAG_STAYOPEN`` c-ares closes a channel's sockets
  once it has no queries left, so an idle channel holds no descriptor.
* c-ares's ``AI_*`` flag values are not the C library's (``ARES_AI_CANONNAME`` is 1,
  glibc's ``AI_CANONNAME`` is 2), so no caller's flags are passed through: c-ares is
  asked only for the addresses of a name, and the answer's entries are built from those
  addresses by the same rules the threaded resolver uses for IP literals, which are
  glibc's (one entry per socket type and protocol, in glibc's order).
* Both glibc and c-ares order a multi-address answer by RFC 6724 destination address
  selection, learning each candidate's source address by connecting a UDP socket.
* What c-ares cannot answer the way ``socket.getaddrinfo`` does goes to the threaded
  resolver (the *fallback*), unchanged:

  - names the C library answers without DNS: every name in ``/etc/hosts`` (re-read when
    the file changes), the machine's own host name, ``localhost`` and ``*.localhost``;
    and every name at all when ``/etc/nsswitch.conf`` lists a hosts source other than
    ``files`` and ``dns`` (mDNS, ``myhostname``, ``resolve``...), whose answers only
    the C library can reproduce;
  - non-ASCII names (Python encodes them with the ``idna`` codec first), names with
    characters outside letters, digits, ``-``, ``_`` and ``.``;
  - service names (``"http"``: ``/etc/services``), flags other than
    ``AI_CANONNAME``, ``AI_PASSIVE`` and ``AI_NUMERICSERV`` (``AI_ADDRCONFIG``,
    ``AI_V4MAPPED``, ``AI_ALL`` and ``AI_NUMERICHOST`` change glibc's answer in ways
    c-ares does not model), families other than ``AF_UNSPEC``/``AF_INET``/``AF_INET6``,
    and socket type/protocol combinations outside glibc's table;
  - ``getnameinfo``, always;
  - every query on a C library other than glibc, whose entry rules differ.

  IP literals are answered inline, as by the threaded resolver.
* Errors are ``socket.gaierror`` with glibc's codes and texts: no such name is
  ``EAI_NONAME``, and a server failure, refusal or timeout is ``EAI_AGAIN``.  For a
  name without addresses of the family asked for, glibc answers ``EAI_NODATA`` or,
  when the answer held a CNAME, ``EAI_NONAME``; c-ares does not report the CNAME, so
  that query is asked again through the fallback.
* c-ares caches answers per channel for their TTL (at most an hour), as a caching
  stub resolver does; glibc without nscd asks every time.  So a name whose records
  change, or a round-robin answer whose order rotates, is seen as it was when cached
  until its TTL runs out.  This is the one way the answers can differ from
  :func:`socket.getaddrinfo` (pycares offers no way to turn the cache off).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from layerloop_core.abc import AddrInfo, Resolver

from ._threaded import (
    _SHAPES_BY_FAMILY,
    _SYNTHESIS,
    ThreadedResolver,
    _getaddrinfo_numeric,
)

if TYPE_CHECKING:
    import pycares

__all__ = ["CaresResolver"]

#: c-ares's own value of ``ARES_AI_CANONNAME`` (ares.h), not the C library's.
_ARES_AI_CANONNAME = 1

_AI_HANDLED = int(socket.AI_CANONNAME | socket.AI_PASSIVE | socket.AI_NUMERICSERV)
_AI_CANONNAME = int(socket.AI_CANONNAME)
_FAMILIES = frozenset((0, int(socket.AF_INET), int(socket.AF_INET6)))
_ADDRESS_FAMILIES = {family: socket.AddressFamily(family) for family in _FAMILIES}
_DNS_NAME = re.compile(r"[A-Za-z0-9_\-.]+\Z")

# glibc's gai_strerror texts for the codes this resolver raises.
_EAI_NONAME = (socket.EAI_NONAME, "Name or service not known")
_EAI_AGAIN = (socket.EAI_AGAIN, "Temporary failure in name resolution")
_EAI_NODATA = (getattr(socket, "EAI_NODATA", -5), "No address associated with hostname")
_EAI_FAIL = (socket.EAI_FAIL, "Non-recoverable failure in name resolution")
_EAI_MEMORY = (socket.EAI_MEMORY, "Memory allocation failure")

_HOSTS_FILE = "/etc/hosts"
_NSSWITCH_FILE = "/etc/nsswitch.conf"

#: Idle channels kept for reuse; an idle channel holds no descriptor.
MAX_IDLE_CHANNELS = 8


# c-ares status codes (ares.h; part of its ABI, checked against pycares.errno in tests).
ARES_ENODATA = 1
ARES_EFORMERR = 2
ARES_ENOTFOUND = 4
ARES_ENOTIMP = 5
ARES_EBADNAME = 8
ARES_EBADRESP = 10
ARES_ENOMEM = 15
ARES_EDESTRUCTION = 16
ARES_ECANCELLED = 24

_GAIERROR_BY_STATUS = {
    ARES_ENOTFOUND: _EAI_NONAME,
    ARES_EBADNAME: _EAI_NONAME,
    ARES_ENODATA: _EAI_NODATA,
    ARES_ENOMEM: _EAI_MEMORY,
    ARES_EFORMERR: _EAI_FAIL,
    ARES_ENOTIMP: _EAI_FAIL,
    ARES_EBADRESP: _EAI_FAIL,
}


def gaierror_for(status: int) -> socket.gaierror:
    """The ``socket.gaierror`` glibc raises where c-ares reports *status*; server
    failures, refusals and timeouts are all ``EAI_AGAIN`` (worth retrying later)."""
    return socket.gaierror(*_GAIERROR_BY_STATUS.get(status, _EAI_AGAIN))


class _NoAddresses(Exception):
    """The name exists but has no address records of the family asked for."""


def _plain_int(value: object) -> bool:
    """An ``int`` (enum members included) but not a ``bool``: what glibc's answer
    rules were checked with.  Anything else goes to the fallback, which raises what
    :func:`socket.getaddrinfo` raises."""
    return isinstance(value, int) and value.__class__ is not bool


class _LocalNames:
    """The names the C library answers without DNS, re-read when their files change."""

    __slots__ = ("_hosts_stamp", "_names", "_nsswitch_stamp", "_only_files_and_dns")

    def __init__(self) -> None:
        self._hosts_stamp: tuple[int, int] | None = None
        self._nsswitch_stamp: tuple[int, int] | None = None
        self._names: frozenset[str] = frozenset()
        self._only_files_and_dns = True

    @staticmethod
    def _stamp(path: str) -> tuple[int, int] | None:
        try:
            info = os.stat(path)
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def _refresh(self) -> None:
        stamp = self._stamp(_HOSTS_FILE)
        if stamp != self._hosts_stamp:
            self._hosts_stamp = stamp
            self._names = frozenset(_read_hosts_names(_HOSTS_FILE))
        stamp = self._stamp(_NSSWITCH_FILE)
        if stamp != self._nsswitch_stamp:
            self._nsswitch_stamp = stamp
            self._only_files_and_dns = _hosts_sources_are_files_and_dns(_NSSWITCH_FILE)

    def answered_without_dns(self, name: str) -> bool:
        self._refresh()
        if not self._only_files_and_dns:
            return True
        key = name.lower().rstrip(".")
        if key == "localhost" or key.endswith(".localhost"):
            return True
        if key in self._names:
            return True
        own = socket.gethostname().lower()
        return key == own or key == own.partition(".")[0]


def _read_hosts_names(path: str) -> Iterable[str]:
    try:
        with open(path, encoding="utf-8", errors="replace") as hosts:
            for line in hosts:
                fields = line.partition("#")[0].split()
                for name in fields[1:]:
                    yield name.lower().rstrip(".")
    except OSError:
        return


def _hosts_sources_are_files_and_dns(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as nsswitch:
            for line in nsswitch:
                database, colon, sources = line.partition("#")[0].partition(":")
                if colon and database.strip() == "hosts":
                    # Action items such as [NOTFOUND=return] change which source answers.
                    words = sources.split()
                    return bool(words) and all(word in ("files", "dns") for word in words)
    except OSError:
        pass
    return True  # glibc's default without the file: "dns [!UNAVAIL=return] files"


def _port_number(port: bytes | str | int | None) -> int | bool | None:
    """The numeric port, ``None`` for none, or ``False`` when the query is not ours."""
    if port is None:
        return None
    if type(port) is int:
        return port if 0 <= port <= 0xFFFF else False
    if isinstance(port, (str, bytes)) and port.isdigit() and port.isascii():
        number = int(port)
        return number if number <= 0xFFFF else False
    return False


class _Channel:
    """A pooled c-ares channel and the one lookup it serves at a time (see the module
    doc): the lookup's future, the sockets c-ares asked us to watch, the retransmit
    timer.  The socket callback is fixed when the channel is made; between lookups
    (``future`` is ``None``) it is ignored, which also covers the callbacks pycares
    makes from its own thread when it destroys a closed channel."""

    __slots__ = ("channel", "done", "fds", "future", "loop", "timer")

    def __init__(self, make: Any, options: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] | None = None
        self.fds: dict[int, tuple[bool, bool]] = {}
        self.timer: asyncio.TimerHandle | None = None
        self.done = True
        self.channel: pycares.Channel = make(sock_state_cb=self.socket_state, **options)

    # -- c-ares callbacks (run inside process_fd/getaddrinfo/cancel, on the loop thread) --

    def socket_state(self, fd: int, readable: bool, writable: bool) -> None:
        if self.future is None:
            return
        loop = self.loop
        fds = self.fds
        was_readable, was_writable = fds.get(fd, (False, False))
        if readable and not was_readable:
            loop.add_reader(fd, self.process, fd, -1)
        elif was_readable and not readable:
            loop.remove_reader(fd)
        if writable and not was_writable:
            loop.add_writer(fd, self.process, -1, fd)
        elif was_writable and not writable:
            loop.remove_writer(fd)
        if readable or writable:
            fds[fd] = (readable, writable)
        else:
            fds.pop(fd, None)

    def answered(self, result: Any, status: int | None) -> None:
        self.done = True
        future = self.future
        if future is None or future.done():
            return
        if status is None or status == 0:
            future.set_result(result)
        elif status in (ARES_ECANCELLED, ARES_EDESTRUCTION):
            future.cancel()
        elif status == ARES_ENODATA:
            future.set_exception(_NoAddresses())
        else:
            future.set_exception(gaierror_for(status))

    # -- driven by the loop ------------------------------------------------------------

    def start(self, future: asyncio.Future[Any], name: str, family: int, flags: int) -> None:
        self.future = future
        self.done = False
        channel = self.channel
        channel.getaddrinfo(
            name,
            None,
            family=_ADDRESS_FAMILIES[family],
            type=socket.SOCK_STREAM,  # one node per address
            flags=flags,
            callback=self.answered,
        )
        if not self.done:
            # A channel with a query in flight always has a next retransmit deadline.
            delay: float = channel.timeout()  # type: ignore[no-untyped-call]
            self.timer = self.loop.call_later(delay, self.process, -1, -1)

    def process(self, read_fd: int, write_fd: int) -> None:
        channel = self.channel
        channel.process_fd(read_fd, write_fd)
        timer = self.timer
        if timer is not None:
            timer.cancel()
            self.timer = None
        if not self.done:
            delay: float = channel.timeout()  # type: ignore[no-untyped-call]
            self.timer = self.loop.call_later(delay, self.process, -1, -1)

    def finish(self) -> None:
        """Stop watching; cancel the query if it is still running."""
        if not self.done:
            self.channel.cancel()  # reports ARES_ECANCELLED through answered()
        timer = self.timer
        if timer is not None:
            timer.cancel()
            self.timer = None
        fds = self.fds
        if fds:
            loop = self.loop
            for fd, (readable, writable) in fds.items():
                if readable:
                    loop.remove_reader(fd)
                if writable:
                    loop.remove_writer(fd)
            fds.clear()
        self.future = None


class CaresResolver:
    """A :class:`layerloop_core.abc.Resolver` that asks DNS servers through c-ares,
    driven by the loop: a DNS lookup costs no thread.

    Requires ``pycares`` 5 (``pip install layerloop-dns[cares]``).  IP literals are
    answered inline; queries whose answer c-ares cannot reproduce exactly (names from
    ``/etc/hosts``, service names, ``AI_ADDRCONFIG``..., see the module documentation)
    and every ``getnameinfo`` go to *fallback*, by default a
    :class:`~layerloop_dns.ThreadedResolver`.

    *servers* (``"ip"`` or ``"ip:port"`` strings) replaces the servers of
    ``/etc/resolv.conf``; *timeout* (seconds) and *tries* are c-ares's retransmission
    settings.  Cancelling a lookup cancels its DNS query.
    """

    __slots__ = (
        "_active",
        "_closed",
        "_fallback",
        "_idle",
        "_local_names",
        "_loop",
        "_options",
        "_pycares",
    )

    def __init__(
        self,
        *,
        servers: Sequence[str] | None = None,
        timeout: float | None = None,
        tries: int | None = None,
        fallback: Resolver | None = None,
    ) -> None:
        try:
            import pycares  # noqa: PLC0415 - an optional dependency, needed only here
        except ImportError as exc:
            raise ImportError(
                "CaresResolver needs pycares: pip install 'layerloop-dns[cares]'"
            ) from exc
        self._pycares = pycares
        options: dict[str, Any] = {}
        if servers is not None:
            options["servers"] = list(servers)
        if timeout is not None:
            options["timeout"] = timeout
        if tries is not None:
            options["tries"] = tries
        self._options = options
        self._fallback: Resolver = ThreadedResolver() if fallback is None else fallback
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[_Channel] = []
        self._active: set[_Channel] = set()
        self._local_names = _LocalNames()
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} attached={self._loop is not None} "
            f"active={len(self._active)} fallback={self._fallback!r}>"
        )

    @property
    def fallback(self) -> Resolver:
        """The resolver that answers what c-ares cannot answer exactly."""
        return self._fallback

    @property
    def active_lookups(self) -> int:
        """DNS lookups in flight (each holds a channel and its sockets)."""
        return len(self._active)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to *loop*; the fallback resolver is attached to it too."""
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError("a resolver serves one loop; this one is already attached")
        self._fallback.attach(loop)
        self._loop = loop

    def answers_by_dns(  # noqa: PLR0917 - socket.getaddrinfo's argument order
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> bool:
        """Whether ``getaddrinfo`` with these arguments would be a c-ares DNS lookup
        (``False``: an inline literal answer or the fallback resolver)."""
        if not _SYNTHESIS or self._closed:
            return False
        if isinstance(host, bytes):
            try:
                host = host.decode("ascii")
            except UnicodeDecodeError:
                return False
        if not isinstance(host, str) or not host or not _DNS_NAME.match(host):
            return False
        number = _port_number(port)
        if number is False:
            return False
        if not (_plain_int(family) and _plain_int(type) and _plain_int(proto)):
            return False
        if not _plain_int(flags):
            return False
        if int(family) not in _FAMILIES or flags & ~_AI_HANDLED:
            return False
        shapes = _SHAPES_BY_FAMILY[int(socket.AF_INET), number is not None]
        if (int(type), int(proto)) not in shapes:
            return False
        # An IP literal is answered inline.  The name pattern above admits no IPv6
        # literal, and every part of an IPv4 literal starts with a digit (inet_aton's
        # rule), so only names starting with one pay for the full check.
        if host[:1].isdigit() and _getaddrinfo_numeric(host, None, 0, 0, 0, 0) is not None:
            return False
        return not self._local_names.answered_without_dns(host)

    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[AddrInfo]:
        """As :func:`socket.getaddrinfo`: by DNS through c-ares where its answer is the
        C library's, else inline (IP literals) or through the fallback resolver."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("resolver is not attached to a loop")
        # A str that neither starts with a digit (every IPv4 literal does) nor holds a
        # colon (every IPv6 literal does) is a name: no literal parsing for it.
        if not (host.__class__ is str and host and not host[:1].isdigit() and ":" not in host):
            answer = _getaddrinfo_numeric(host, port, family, type, proto, flags)
            if answer is not None:
                return answer
        if not self.answers_by_dns(host, port, family, type, proto, flags):
            return await self._fallback.getaddrinfo(
                host, port, family=family, type=type, proto=proto, flags=flags
            )
        name = host.decode("ascii") if isinstance(host, bytes) else host
        assert isinstance(name, str)
        try:
            result = await self._lookup(loop, name, int(family), bool(flags & _AI_CANONNAME))
        except _NoAddresses:
            # glibc's error here depends on the answer's CNAME records (EAI_NONAME after
            # a CNAME, EAI_NODATA without one), which c-ares does not report: glibc decides.
            return await self._fallback.getaddrinfo(
                host, port, family=family, type=type, proto=proto, flags=flags
            )
        return _entries(result, name, _port_number(port), int(type), int(proto), flags)

    async def _lookup(
        self, loop: asyncio.AbstractEventLoop, name: str, family: int, canonname: bool
    ) -> Any:
        idle = self._idle
        slot = idle.pop() if idle else _Channel(self._pycares.Channel, self._options, loop)
        future: asyncio.Future[Any] = loop.create_future()
        self._active.add(slot)
        try:
            slot.start(future, name, family, _ARES_AI_CANONNAME if canonname else 0)
            return await future
        finally:
            slot.finish()
            self._active.discard(slot)
            if self._closed or len(idle) >= MAX_IDLE_CHANNELS:
                slot.channel.close()
            else:
                idle.append(slot)

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int = 0
    ) -> tuple[str, str]:
        """As :func:`socket.getnameinfo`, through the fallback resolver."""
        if self._loop is None:
            raise RuntimeError("resolver is not attached to a loop")
        return await self._fallback.getnameinfo(sockaddr, flags)

    def close(self) -> None:
        """Cancel the lookups in flight, close the channels and the fallback.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        for slot in list(self._active):
            slot.finish()
        while self._idle:
            self._idle.pop().channel.close()
        self._fallback.close()


def _entries(  # noqa: PLR0917 - socket.getaddrinfo's argument order
    result: Any,
    name: str,
    port: int | bool | None,
    socktype: int,
    proto: int,
    flags: int,
) -> list[AddrInfo]:
    """glibc's answer for *name* resolving to the addresses of *result*, in order."""
    entries: list[AddrInfo] = []
    seen: set[str] = set()
    number = 0 if port is None or port is False else int(port)
    with_port = port is not None
    for node in result.nodes:
        family = socket.AddressFamily(node.family)
        address = node.addr[0]
        if isinstance(address, bytes):
            address = address.decode("ascii")
        if address in seen:  # glibc merges duplicate records
            continue
        seen.add(address)
        shapes = _SHAPES_BY_FAMILY[int(family), with_port].get((socktype, proto))
        if shapes is None:
            continue
        if family == socket.AF_INET:
            sockaddr: Any = (address, number)
        else:
            sockaddr = (address, number, 0, node.addr[3] if len(node.addr) > 3 else 0)
        for shape_family, shape_type, shape_proto in shapes:
            entries.append((shape_family, shape_type, shape_proto, "", sockaddr))
    if not entries:
        raise socket.gaierror(*_EAI_NODATA)
    if flags & _AI_CANONNAME:
        canonical = _canonical_name(result, name)
        first = entries[0]
        entries[0] = (first[0], first[1], first[2], canonical, first[4])
    return entries


def _canonical_name(result: Any, name: str) -> str:
    """The owner name of the address records: the end of the CNAME chain, or the name."""
    cnames: Sequence[Any] = result.cnames
    if cnames:
        target = cnames[-1].name
        if isinstance(target, bytes):
            target = target.decode("ascii")
        return str(target).rstrip(".")
    return name.rstrip(".") if name.endswith(".") and name != "." else name
