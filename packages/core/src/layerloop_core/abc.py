"""The seams of layerloop: what the scheduler needs from an I/O backend and a resolver.

The scheduler in :mod:`layerloop_core` never assumes its multiplexer is a selector.  It
talks to exactly two objects:

* an :class:`IOBackend`, which waits for I/O with a timeout, wakes up from other threads,
  watches file descriptors for ``add_reader``/``add_writer``, and performs the ``sock_*``
  operations and (through :class:`StreamBackend`) the byte streams, listeners and
  datagram endpoints that ``layerloop-transports`` builds on;
* a :class:`Resolver`, which answers ``getaddrinfo``/``getnameinfo``.

Both are typed :class:`typing.Protocol` classes: a third party ships a backend or a
resolver as its own package, with no base class to inherit, and proves it with the suites
in ``layerloop-testing``.

The interface is shaped like libuv's stream interface rather than like a selector so that
a readiness backend (epoll, poll, select, kqueue) and a completion backend (io_uring,
IOCP) both implement it without emulating each other:

* a reader supplies the buffer a read lands in (:meth:`StreamOwner.get_read_buffer`), so
  ``BufferedProtocol`` reads land in the protocol's own memory on both kinds;
* writes are tried synchronously first (:meth:`Stream.try_write`), and only what the
  kernel did not take is handed to the backend;
* readiness watches (``add_reader``/``add_writer``) are part of the interface on every
  backend; a completion backend implements them with poll requests.

Contract points shared by every method below:

1. **No inline callbacks.**  Completion callbacks and watch handles run from the loop's
   ready queue, after :meth:`IOBackend.poll` has enqueued them; never from inside the call
   that started the operation.  Only :meth:`Stream.try_write`,
   :meth:`DatagramEndpoint.try_send` and the ``sock_*`` fast paths complete
   synchronously, and they say so by their return value.
2. **Buffers are lent.**  A buffer passed to a write, or returned by
   :meth:`StreamOwner.get_read_buffer`, belongs to the backend until the operation's
   callback has run.  The caller must neither resize nor release it meanwhile.
3. **One at a time.**  At most one read and one write are outstanding per stream.
4. **The backend closes.**  :meth:`Stream.close` owns the cancel, drain, close sequence;
   higher layers never close a socket the backend may still have an operation on.
5. **Cancellation is a request.**  A cancelled operation still reports exactly once, with
   whatever actually happened (a result that raced the cancel, or the cancellation).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, Protocol, TypeAlias, runtime_checkable

__all__ = [
    "AddrInfo",
    "Address",
    "BYTES_READ_SIZE",
    "BackendKind",
    "BytesStreamOwner",
    "DatagramEndpoint",
    "DatagramOwner",
    "Enqueue",
    "FileLike",
    "HasFileno",
    "IOBackend",
    "Listener",
    "Operation",
    "Resolver",
    "Stream",
    "StreamBackend",
    "StreamOwner",
]

#: A socket address as the ``socket`` module uses it: ``(host, port)``,
#: ``(host, port, flowinfo, scope_id)``, a path for ``AF_UNIX``, and so on.
Address: TypeAlias = Any

#: One entry of a ``getaddrinfo`` answer, exactly as :func:`socket.getaddrinfo` returns it.
AddrInfo: TypeAlias = tuple[
    socket.AddressFamily,
    socket.SocketKind,
    int,
    str,
    "tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]",
]

#: How a backend hands work back to the scheduler: append a handle to the ready queue.
#: Only callable from the loop's own thread (inside :meth:`IOBackend.poll` or a callback).
Enqueue: TypeAlias = Callable[[asyncio.Handle], None]

BackendKind: TypeAlias = Literal["readiness", "completion"]


@runtime_checkable
class IOBackend(Protocol):
    """The multiplexer the scheduler drives.

    Lifecycle: the loop calls :meth:`attach` once, from its constructor, then calls
    :meth:`poll` once per iteration of the run loop, and :meth:`close` once, from
    ``loop.close()``.  Everything except :meth:`wakeup` is called from the loop's thread.

    **Optional: after_fork_in_child() -> None.**  Not part of the protocol (a backend
    without it is still an ``IOBackend``); the loop calls it only if present.  It is
    called in a child process created by :func:`os.fork`, from the fork handler, for
    the backend of every loop that was open in the parent.  The child shares the
    backend's kernel objects with the parent (an epoll or kqueue instance and its
    interest list, a wakeup channel, a completion ring and its mapped memory), and the
    loop is retired in the child: it never polls, wakes, closes or otherwise calls this
    backend again.  The hook releases the child's references without changing the
    shared state: close the child's copies of the fds (closing an fd does not remove an
    epoll entry while the parent holds the file open), but never unregister watches
    (``EPOLL_CTL_DEL`` acts on the instance both processes use), drain the wakeup
    channel, or submit anything to a shared ring.  It must not raise.  Without it the
    child merely keeps those fds open until it exits or execs.
    """

    #: Short name shown by ``python -m layerloop info`` and in ``repr(loop)``:
    #: ``"epoll"``, ``"poll"``, ``"select"``, ``"kqueue"``, ``"uring"``...
    name: str
    #: ``"readiness"`` (the kernel says when an fd is ready, the backend does the I/O)
    #: or ``"completion"`` (the kernel does the I/O and reports when it is done).
    kind: BackendKind

    def attach(self, loop: asyncio.AbstractEventLoop, enqueue: Enqueue) -> None:
        """Bind the backend to its loop.

        *loop* gives the public loop services a backend needs (``create_future``,
        ``call_soon``, ``call_exception_handler``, ``get_debug``, ``time``).  *enqueue*
        appends a handle to the loop's ready queue with no checks at all; it is the fast
        path for :meth:`poll`.  A backend is attached to at most one loop in its life.
        """
        ...

    def poll(self, timeout: float | None) -> None:
        """Wait for I/O for at most *timeout* seconds and enqueue what became ready.

        ``None`` waits until an event or a :meth:`wakeup`; ``0`` does not block.  Every
        watch handle whose fd became ready, and every completion callback that is due, is
        passed to *enqueue*, in the order the kernel reported them.  A :meth:`wakeup` made
        before ``poll`` was entered must make it return without blocking.  ``EINTR``
        returns early (the scheduler recomputes its timers).  Never runs callbacks
        itself.
        """
        ...

    def wakeup(self) -> None:
        """Make the current or the next :meth:`poll` return promptly.

        Callable from any thread.  Calls between two polls coalesce into one wakeup, so
        it is cheap to call repeatedly; the scheduler still calls it only while the loop
        may be sleeping.
        """
        ...

    def close(self) -> None:
        """Release the kernel resources.  Idempotent.

        Watches are dropped, operations still in flight are cancelled and their
        completions drained before any memory they use is released.  After ``close`` the
        backend is never polled again.
        """
        ...

    # -- readiness watches: add_reader/add_writer ---------------------------------------

    def add_reader(self, fd: int, handle: asyncio.Handle) -> None:
        """Enqueue *handle* every time *fd* is readable (level-triggered) until removed.

        A watch already on *fd* is replaced, and its handle cancelled.  The backend never
        changes the fd's blocking mode.
        """
        ...

    def remove_reader(self, fd: int) -> bool:
        """Stop watching *fd* for reading and cancel its handle; ``False`` if it had none.

        Must tolerate an fd that was closed while watched.
        """
        ...

    def add_writer(self, fd: int, handle: asyncio.Handle) -> None:
        """As :meth:`add_reader`, for writability."""
        ...

    def remove_writer(self, fd: int) -> bool:
        """As :meth:`remove_reader`, for writability."""
        ...

    # -- socket operations: loop.sock_* --------------------------------------------------
    #
    # The loop validates arguments (non-blocking socket, TLS sockets refused, sendfile
    # parameters) and resolves names before calling these, so a backend receives only
    # well-formed requests.  Each is a coroutine: cancelling the awaiting task cancels the
    # operation, and no data is lost or duplicated by a cancellation (an operation that
    # already completed in the kernel reports its result, contract point 5).

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        """Receive up to *nbytes*; ``b""`` at end of stream."""
        ...

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        """Receive into the writable buffer *buf*; return the number of bytes."""
        ...

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Address]:
        """Receive one datagram of at most *bufsize* bytes and its sender."""
        ...

    async def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int
    ) -> tuple[int, Address]:
        """Receive one datagram into *buf* (at most *nbytes*, 0 meaning ``len(buf)``)."""
        ...

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        """Send every byte of *data*.

        If cancelled part-way, the bytes already sent stay sent; the caller cannot learn
        how many, as with CPython's loop.
        """
        ...

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Address) -> int:
        """Send one datagram to *address* (already resolved); return the bytes sent."""
        ...

    async def sock_connect(self, sock: socket.socket, address: Address) -> None:
        """Connect *sock* to *address*, which the loop has already resolved."""
        ...

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Address]:
        """Accept one connection; the new socket is non-blocking."""
        ...

    async def sock_sendfile_native(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        """Send *count* bytes (``None``: to end of file) of *file* from *offset*, zero-copy.

        Raise :class:`asyncio.SendfileNotAvailableError` before sending anything when
        the kernel path cannot be used (the loop then falls back to reads and writes when
        the caller allowed it).  On return or error the file position is left just after
        the last byte sent, as ``loop.sock_sendfile`` documents.
        """
        ...


# -- byte streams, listeners and datagrams: what layerloop-transports is written on ------
#
# Two kinds of callbacks appear below.  *Owner callbacks* (the methods of StreamOwner and
# DatagramOwner) are called for as long as the object reads and never after its close();
# *operation callbacks* (the ``done`` given to one call) are called exactly once each,
# also when the object is closed while the operation is outstanding (then with an
# asyncio.CancelledError, or with the result if the kernel finished first: contract
# point 5).  Both kinds run from the loop's ready queue (contract point 1) and must not
# raise: an exception escaping one reaches the loop's exception handler, and the object
# stays in the state the callback found it in.


class HasFileno(Protocol):
    """Anything with a file descriptor: a socket, a file object from ``open``/``os.fdopen``,
    a ``pty`` or pipe wrapper."""

    def fileno(self) -> int: ...


#: What :meth:`StreamBackend.open_stream` accepts: a ``socket.socket``, any object with
#: ``fileno()`` (pipes and character devices such as ptys, as ``connect_read_pipe`` and
#: ``connect_write_pipe`` receive them), or a bare fd number.
FileLike: TypeAlias = "int | HasFileno"


class Operation(Protocol):
    """A pending operation that can be cancelled (see :meth:`StreamBackend.connect`)."""

    def cancel(self) -> None:
        """Ask for the operation to stop.  Its callback still runs exactly once: with
        :class:`asyncio.CancelledError`, or with the outcome if it raced the cancel.  A
        no-op once the callback has been scheduled."""
        ...


class StreamOwner(Protocol):
    """The side of a :class:`Stream` that consumes its reads: a transport.

    Implemented once, by ``layerloop-transports``, and used by every backend.  Owner
    callbacks run only while the stream is reading (between :meth:`Stream.start_reading`
    and :meth:`Stream.stop_reading`, end of stream, a read error or :meth:`Stream.close`).
    """

    def get_read_buffer(self, size_hint: int) -> memoryview:
        """Lend the writable, non-empty buffer the next read lands in (a reused
        ``bytearray`` for ``Protocol``, the protocol's own buffer for
        ``BufferedProtocol``).

        *size_hint* is how many bytes are known to be waiting, or ``-1`` when unknown (as
        ``BufferedProtocol.get_buffer`` receives it).  The buffer belongs to the backend
        until the matching :meth:`read_done` or :meth:`read_failed` (contract point 2).

        The owner handles its own failures here: it validates its protocol's buffer (an
        empty buffer would read as end of stream) and, when it cannot lend one, calls
        :meth:`Stream.stop_reading` or :meth:`Stream.close` *inside this call* and
        returns any buffer (an empty one will do).  The backend checks, after this
        returns, whether the stream is still reading and open; if not, it does not read,
        the returned buffer is not lent, and neither :meth:`read_done` nor
        :meth:`read_failed` follows.  If this method raises anyway (an owner bug),
        reading stops and the exception reaches the loop's exception handler.
        """
        ...

    def read_done(self, nbytes: int) -> None:
        """*nbytes* landed at the start of the last lent buffer.

        ``0`` is end of stream, after which reading has stopped (a half-closed socket
        can still be written).  On a stream over a write-only fd (the write end of a
        pipe), reading means watching for the reader going away, reported as ``0``.
        """
        ...

    def read_failed(self, exc: BaseException) -> None:
        """The read failed (``ConnectionResetError``, ``EIO`` from a pty whose other
        side closed, ...); reading has stopped.  The stream is still open: the owner
        decides to close it."""
        ...


#: The most a backend reads into one new ``bytes`` object for a
#: :class:`BytesStreamOwner`.  glibc serves allocations of 128 KiB and more with a fresh
#: ``mmap`` until a large freed block raises its threshold, and shrinking such a block
#: (as ``recv`` does to what it read) never raises it: asking for 256 KiB per read then
#: costs an mmap, an mremap, a munmap and two page faults every time (measured: 4x the
#: server CPU of a 1 KiB echo, in some processes and not in others).  64 KiB stays on
#: the heap and inside glibc's default 128 KiB of heap-top padding.
BYTES_READ_SIZE: Final = 64 * 1024


class BytesStreamOwner(StreamOwner, Protocol):
    """A :class:`StreamOwner` that can also take each read as a new ``bytes`` object.

    A backend whose ``reads_bytes`` attribute is true looks at :attr:`wants_bytes`
    before each read of a stream opened on a socket.  While it is true, the backend hands
    each read to :meth:`read_bytes` as a new ``bytes`` object instead of lending a
    buffer:

    * a readiness backend reads with ``recv(BYTES_READ_SIZE)``, so the kernel copies
      straight into the object the protocol receives, where reading into a lent buffer
      and copying out of it copies every byte twice;
    * a completion backend may keep one multishot receive armed into buffers of its
      own and copy each arrival out (io_uring's provided-buffer ring): one request per
      connection instead of one per read, and no memory held by an idle connection.

    A read of the backend's ``bytes_read_size`` (an optional attribute, by default
    :data:`BYTES_READ_SIZE`) filled all one such read may bring and suggests a bulk
    transfer, for which an owner may prefer lending a larger buffer again.  A backend
    without ``reads_bytes`` ignores all this.
    """

    #: Whether the next read should be a ``bytes`` object for :meth:`read_bytes`.
    wants_bytes: bool

    def read_bytes(self, data: bytes) -> None:
        """*data* was read.  ``b""`` is end of stream, after which reading has
        stopped; errors go to :meth:`StreamOwner.read_failed` as for a lent buffer."""
        ...


class Stream(Protocol):
    """A connected byte stream (TCP, Unix, pipe, pty) driven by the backend.

    The stream owns its fd from :meth:`StreamBackend.open_stream` on: only
    :meth:`close` closes it.  At most one read (contract point 3, the backend's own) and
    one write or sendfile or shutdown are outstanding at a time.
    """

    def start_reading(self) -> None:
        """Read continuously into the owner's buffers until :meth:`stop_reading`, end
        of stream or a read error.  Idempotent.

        A readiness backend watches the fd and reads into the lent buffer when it is
        readable; a completion backend keeps one receive in flight.
        """
        ...

    def stop_reading(self) -> None:
        """Stop reading: no owner callback runs until the next :meth:`start_reading`.
        Idempotent.

        A completion backend whose receive was already in flight keeps its outcome (the
        buffer stays lent) and reports it first thing after :meth:`start_reading`, so the
        owner never sees data while paused, on any kind of backend.
        """
        ...

    def try_write(self, data: memoryview) -> int:
        """Write what the kernel accepts right now without blocking; return the count
        (``0``: would block).

        Synchronous (the one exception to contract point 1).  Raises ``OSError`` for a
        broken stream (``BrokenPipeError``, ``ConnectionResetError``, ...), and
        ``OSError(errno.EBADF)`` once the stream is closed (so an owner's write error
        path handles both alike).  :class:`RuntimeError` while a write, sendfile or
        shutdown is outstanding (including a cancelled write that has not reported yet).
        """
        ...

    def write(
        self,
        data: memoryview | Sequence[memoryview],
        done: Callable[[int, BaseException | None], None],
    ) -> None:
        """Write *data*, one buffer or a sequence of buffers written in order as one
        operation (vectored: ``sendmsg`` on a socket, ``writev`` on other fds, one
        submission on a completion backend; the backend splits a sequence longer than
        the kernel's ``IOV_MAX`` itself).  Buffers are byte-formatted (``itemsize`` 1)
        and C-contiguous; empty ones are allowed.  ``done(nbytes, error)`` reports how
        many bytes were written in total (counted across the buffers in order) and the
        error that stopped it, if any.

        *data*, the sequence and every buffer in it, is lent until *done* runs.  A short
        count with no error is allowed (the owner submits the rest); the readiness
        backends write everything before reporting.  Raises :class:`RuntimeError` if
        another write, sendfile or shutdown is outstanding or the stream is closed.
        """
        ...

    def cancel_write(self) -> None:
        """Cancel the outstanding write or sendfile, if any, without closing the stream
        (for ``abort``-like paths, ``start_tls`` and ``sendfile`` in the owner).

        The operation still reports exactly once (contract point 5), from the ready
        queue, never inside this call: ``done(nbytes, CancelledError())`` with the
        bytes that did reach the kernel before the cancel took effect (they stay
        sent), or its real outcome if it finished first.  Until that report has run the
        stream still counts the operation as outstanding: :meth:`write`,
        :meth:`try_write` and :meth:`sendfile` raise :class:`RuntimeError`.  A
        :meth:`shutdown_write` waiting behind the cancelled operation proceeds after
        the report.  A no-op when nothing is outstanding, when a cancel is already
        pending, or on a closed stream.
        """
        ...

    def sendfile(
        self,
        fd: int,
        offset: int,
        count: int,
        done: Callable[[int, BaseException | None], None],
    ) -> None:
        """Send *count* (> 0) bytes of the regular file *fd* from *offset* without
        copying them through Python; reports like :meth:`write` (the file position is
        not used or moved: the owner updates it).

        When the kernel refuses before the first byte (not a regular file, a stream
        sendfile cannot write to, ...), ``done(0, asyncio.SendfileNotAvailableError)``:
        the owner falls back to reads and writes.
        """
        ...

    def shutdown_write(self, done: Callable[[BaseException | None], None]) -> None:
        """Half-close: send end of stream after the outstanding write or sendfile (if
        any) has finished; reading is unaffected.  Sockets only: on any other fd *done*
        receives ``OSError(ENOTSOCK)`` (a pipe's end of stream is its close).  No write
        is accepted afterwards.
        """
        ...

    def close(self, done: Callable[[], None]) -> None:
        """Close now: stop reading, cancel the outstanding operations, wait for their
        completions, close the fd (through the object given to ``open_stream``), then
        call *done*.

        Each cancelled operation's callback runs once, before *done* (contract point 5).
        No owner callback runs after ``close`` is called.  A graceful close (flush the
        queued data first) is the owner's: it waits for its last write to report, then
        calls ``close``.  Calling ``close`` twice is a :class:`RuntimeError`.

        *done* (and the cancelled operations' callbacks) run where a callback queued by
        ``close`` would run: in the next iteration, before anything queued after the
        call, which is where asyncio's transports report ``connection_lost``.  Only an
        operation the kernel cannot stop at once may delay them, until it has stopped.
        """
        ...


class Listener(Protocol):
    """A listening socket that accepts connections until closed."""

    def pause(self) -> None:
        """Stop accepting (to back off after ``EMFILE``/``ENFILE``, or while a server
        is not serving); connections wait in the kernel's backlog.  Idempotent."""
        ...

    def resume(self) -> None:
        """Accept again.  Idempotent."""
        ...

    def close(self, done: Callable[[], None]) -> None:
        """Stop accepting, drain in-flight accepts, close the socket, call *done*."""
        ...


class DatagramOwner(Protocol):
    """The side of a :class:`DatagramEndpoint` that consumes datagrams."""

    def datagram_received(self, data: bytes, address: Address) -> None:
        """One datagram arrived from *address* (``None`` or ``""`` for an unnamed
        ``AF_UNIX`` sender, as ``recvfrom`` reports it)."""
        ...

    def receive_failed(self, exc: OSError) -> None:
        """A receive reported an error, for example ``ConnectionRefusedError`` on a
        connected UDP socket after an ICMP port-unreachable (``error_received``).
        Receiving continues."""
        ...


class DatagramEndpoint(Protocol):
    """A datagram socket driven by the backend; it owns the socket from
    :meth:`StreamBackend.open_datagram` on."""

    def start_receiving(self) -> None:
        """Deliver datagrams to the owner until :meth:`stop_receiving`.  Idempotent."""
        ...

    def stop_receiving(self) -> None:
        """Stop delivering datagrams (a completion backend holds one that raced, as
        :meth:`Stream.stop_reading`).  Idempotent."""
        ...

    def try_send(self, data: memoryview, address: Address | None) -> bool:
        """Send one datagram now if the kernel takes it; ``False`` means "would block".

        Synchronous.  Raises ``OSError`` for any other failure (``ConnectionRefusedError``
        from an earlier ICMP error on a connected socket, ``EMSGSIZE``, ...): the owner
        reports it as ``error_received``.  Only valid while no :meth:`send` is
        outstanding.  *address* ``None`` sends to the connected peer.
        """
        ...

    def send(
        self,
        data: memoryview,
        address: Address | None,
        done: Callable[[BaseException | None], None],
    ) -> None:
        """Send one datagram when the socket can take it; at most one outstanding.
        *data* is lent until *done* runs."""
        ...

    def close(self, done: Callable[[], None]) -> None:
        """Cancel (an outstanding send reports ``CancelledError`` first), close the
        socket, then call *done*.  No owner callback runs after ``close``.  *done* runs
        where :meth:`Stream.close` runs its own."""
        ...


@runtime_checkable
class StreamBackend(IOBackend, Protocol):
    """An :class:`IOBackend` that can also drive streams, listeners and datagrams.

    This is what ``layerloop-transports`` requires: it is written once against this
    interface and never against a particular backend.  Every object given to these
    methods must be non-blocking already (the backend never changes an fd's mode, except
    that accepted sockets are made non-blocking); from then on the backend owns it and
    closes it (contract point 4).
    """

    def open_stream(self, fileobj: FileLike, owner: StreamOwner) -> Stream:
        """Take over the connected stream socket, pipe end or character device
        *fileobj*.

        A ``socket.socket`` is read and written with ``recv_into``/``send`` and can be
        half-closed; anything else with ``read``/``write`` on its fd.  The stream closes
        *fileobj* through its ``close()`` method (``os.close`` for a bare fd).  Raises
        ``OSError`` (``PermissionError`` from epoll for a regular file) or
        ``ValueError`` for an fd the backend cannot drive.
        """
        ...

    def listen(
        self,
        sock: socket.socket,
        on_accept: Callable[[socket.socket | None, Address, OSError | None], None],
        *,
        backlog: int = 100,
    ) -> Listener:
        """Accept connections on the listening *sock*, starting now.

        ``on_accept(conn, address, None)`` receives each new non-blocking socket (the
        owner takes it); ``on_accept(None, None, error)`` each failed accept
        (``EMFILE``, ``ENFILE``, ``ENOBUFS``, ``ECONNABORTED``, ...), after which the
        listener carries on unless the owner pauses it.  At most *backlog* connections
        are accepted per wakeup, so a flood of connections cannot starve the loop.
        """
        ...

    def connect(
        self, sock: socket.socket, address: Address, done: Callable[[BaseException | None], None]
    ) -> Operation:
        """Connect the non-blocking *sock* to the resolved *address*; *done* reports the
        outcome (``None``, the ``OSError``, or ``CancelledError`` after
        :meth:`Operation.cancel`).  The caller keeps *sock* and may close it once *done*
        has run."""
        ...

    def open_datagram(self, sock: socket.socket, owner: DatagramOwner) -> DatagramEndpoint:
        """Take over the bound (and possibly connected), non-blocking datagram *sock*."""
        ...


@runtime_checkable
class Resolver(Protocol):
    """Name resolution for ``loop.getaddrinfo``/``loop.getnameinfo`` and every API that
    takes a host name (``sock_connect``, ``create_connection``, ...).

    Results and errors must be those of :func:`socket.getaddrinfo` and
    :func:`socket.getnameinfo` for the same arguments: the same tuples in the same order,
    ``socket.gaierror`` with the same ``errno``.  Cancelling the awaiting task cancels the
    query where the resolver can.
    """

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind the resolver to its loop (for ``run_in_executor``, futures, ...)."""
        ...

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
        """As :func:`socket.getaddrinfo`."""
        ...

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int = 0
    ) -> tuple[str, str]:
        """As :func:`socket.getnameinfo`."""
        ...

    def close(self) -> None:
        """Release the resolver's resources.  Idempotent."""
        ...
