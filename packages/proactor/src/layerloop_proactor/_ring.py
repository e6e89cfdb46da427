"""A pure-Python io_uring driver: three system calls through ctypes, the rings through mmap.

Kernel facts this module relies on
==================================

* ``io_uring_setup(entries, params)`` returns a ring fd (always close-on-exec) and fills
  ``struct io_uring_params`` (120 bytes) with the sizes and the offsets of the fields of
  the submission (SQ) and completion (CQ) rings.  Three ``mmap`` calls on the fd map the
  SQ ring (offset 0), the CQ ring (``0x8000000``) and the array of 64-byte submission
  queue entries (SQEs, ``0x10000000``).  Mapping the two rings separately works whether or
  not the kernel shares one mapping for them (``FEAT_SINGLE_MMAP``).
* The SQ ring holds indices into the SQE array.  We fill that index array once with the
  identity (slot *i* names SQE *i*), so submitting is: pack the SQE at ``tail & mask``,
  advance our private tail, store it in the ring before ``io_uring_enter``.  The kernel
  maps the SQE array zero-filled and never writes to it, and the fields after
  ``user_data`` (byte 40 on) are always zero for the requests made here, so only the
  40-byte head of a slot is packed: one ``pack_into`` of 9 fields per request.
* A completion (CQE) is 16 bytes: ``user_data`` (what the SQE carried), ``res`` (a byte
  count, an fd, or ``-errno``) and ``flags`` (``F_MORE``: a multishot request stays armed).
  We read the entries between the CQ head and tail, then store the new head.
* ``SINGLE_ISSUER | DEFER_TASKRUN`` (6.1+): completion work runs only inside our own
  ``io_uring_enter(GETEVENTS)``, never by interrupting the thread; the research notes
  measured 1.7x the CPU per round trip without it.  It also means every kernel access to
  the ring indices happens during our system calls, so plain (unfenced) ``memoryview``
  loads and stores are ordered correctly on every CPU, as long as SQPOLL is never used.
  Consequence: the CQ must be read only after an enter with ``GETEVENTS``, even a
  non-blocking one.  Older kernels get ``COOP_TASKRUN | TASKRUN_FLAG``.
* Only the creating thread may submit (``SINGLE_ISSUER``): other threads wake the loop
  through an eventfd read kept in flight (see the backend).
* ``io_uring_enter(fd, to_submit, min_complete, flags, argp, argsz)``.  With
  ``ENTER_EXT_ARG``, *argp* points to ``struct io_uring_getevents_arg`` whose ``ts`` is a
  ``__kernel_timespec``: the wait deadline in nanoseconds, so no timer SQE is needed and
  sub-millisecond timeouts are honoured.  A timeout returns ``ETIME``; a signal ``EINTR``
  (after the kernel submitted what it could).  ``libc.syscall`` is variadic: the 7th
  argument travels on the stack, so *argsz* must be a ``c_size_t`` (a Python int fills
  32 bits of the slot and the kernel reads garbage: ``EINVAL``).
* A provided-buffer ring (``IORING_REGISTER_PBUF_RING``, 5.19+) is an array of 16-byte
  entries (address, length, buffer id): the kernel keeps its head, we keep its tail (a
  u16 in entry 0).  A receive that selects a buffer takes the entry at the head, in ring
  order, and names the buffer in its CQE (``flags >> 16``); the kernel never writes the
  entries.  Under ``DEFER_TASKRUN`` it reads the tail only inside our
  ``io_uring_enter``, so the buffers copied out during an iteration are handed back
  together, by one tail store before the next enter.
* Memory handed to the kernel (buffer addresses in SQEs) is not reference counted by
  anything: the caller keeps it alive and unmoved until the matching CQE (see
  :class:`BufferPin`).
* After ``fork`` the child would share the mappings (``MAP_SHARED``) and could corrupt the
  parent's rings; ``MADV_DONTFORK`` leaves the child without them, so the child must never
  touch a ring object (:meth:`Ring.forget` closes only its fd copy).
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import struct
import sys
from collections.abc import Sequence
from typing import Final, Protocol

__all__ = [
    "BufferPin",
    "BufferRingDriver",
    "Ring",
    "RingDriver",
    "SliceCopies",
]

# -- system call numbers: identical on every architecture that has io_uring -------------
SYS_IO_URING_SETUP: Final = 425
SYS_IO_URING_ENTER: Final = 426
SYS_IO_URING_REGISTER: Final = 427

# -- setup flags -------------------------------------------------------------------------
SETUP_CQSIZE: Final = 1 << 3
SETUP_SUBMIT_ALL: Final = 1 << 7
SETUP_COOP_TASKRUN: Final = 1 << 8
SETUP_TASKRUN_FLAG: Final = 1 << 9
SETUP_SINGLE_ISSUER: Final = 1 << 12
SETUP_DEFER_TASKRUN: Final = 1 << 13

# -- features reported by setup ----------------------------------------------------------
FEAT_NODROP: Final = 1 << 1
FEAT_FAST_POLL: Final = 1 << 5
FEAT_EXT_ARG: Final = 1 << 8

# -- enter flags -------------------------------------------------------------------------
ENTER_GETEVENTS: Final = 1
ENTER_EXT_ARG: Final = 1 << 3

# -- opcodes -----------------------------------------------------------------------------
OP_NOP: Final = 0
OP_POLL_ADD: Final = 6
OP_POLL_REMOVE: Final = 7
OP_SENDMSG: Final = 9
OP_RECVMSG: Final = 10
OP_ACCEPT: Final = 13
OP_ASYNC_CANCEL: Final = 14
OP_CONNECT: Final = 16
OP_CLOSE: Final = 19
OP_READ: Final = 22
OP_WRITE: Final = 23
OP_SEND: Final = 26
OP_RECV: Final = 27
OP_SPLICE: Final = 30
OP_SHUTDOWN: Final = 34

OP_NAMES: Final = {
    OP_NOP: "NOP",
    OP_POLL_ADD: "POLL_ADD",
    OP_POLL_REMOVE: "POLL_REMOVE",
    OP_SENDMSG: "SENDMSG",
    OP_RECVMSG: "RECVMSG",
    OP_ACCEPT: "ACCEPT",
    OP_ASYNC_CANCEL: "ASYNC_CANCEL",
    OP_CONNECT: "CONNECT",
    OP_CLOSE: "CLOSE",
    OP_READ: "READ",
    OP_WRITE: "WRITE",
    OP_SEND: "SEND",
    OP_RECV: "RECV",
    OP_SPLICE: "SPLICE",
    OP_SHUTDOWN: "SHUTDOWN",
}

#: What the backend cannot work without.
REQUIRED_OPS: Final = (
    OP_POLL_ADD,
    OP_ASYNC_CANCEL,
    OP_ACCEPT,
    OP_READ,
    OP_WRITE,
    OP_SEND,
    OP_RECV,
)

# -- per-request flags -------------------------------------------------------------------
#: The CQE names a provided buffer: its id is ``flags >> CQE_BUFFER_SHIFT``.
CQE_F_BUFFER: Final = 1 << 0
CQE_BUFFER_SHIFT: Final = 16
CQE_F_MORE: Final = 1 << 1
#: SQE flag: the kernel picks the buffer from a provided-buffer group (``buf_group``).
SQE_BUFFER_SELECT: Final = 1 << 5
#: RECV ioprio flag (6.0+): one request posts a CQE per arrival until it fails, is
#: cancelled or meets end of stream; needs ``SQE_BUFFER_SELECT`` and ``len == 0``.
RECV_MULTISHOT: Final = 1 << 1
ACCEPT_MULTISHOT: Final = 1  # in ioprio
#: RECV/SEND flag (in ioprio, 5.19+): arm the poll first instead of trying the transfer
#: first; saves a failed attempt when the socket is known to be drained.
RECVSEND_POLL_FIRST: Final = 1
POLL_ADD_MULTI: Final = 1  # in len
ASYNC_CANCEL_ALL: Final = 1
ASYNC_CANCEL_FD: Final = 1 << 1
#: "the current file position" as the offset of READ/WRITE (pipes, character devices).
OFFSET_CURRENT: Final = (1 << 64) - 1

# -- register opcodes --------------------------------------------------------------------
REGISTER_PROBE: Final = 8
REGISTER_PBUF_RING: Final = 22
PROBE_OP_SUPPORTED: Final = 1

# -- mmap offsets ------------------------------------------------------------------------
_OFF_SQ_RING: Final = 0
_OFF_CQ_RING: Final = 0x8000000
_OFF_SQES: Final = 0x10000000

# struct io_uring_params: 10 u32 fields, then io_sqring_offsets and io_cqring_offsets
# (8 u32 + 1 u64 each).
_PARAMS: Final = struct.Struct("<10I 8IQ 8IQ")
#: One SQE: opcode, flags, ioprio, fd, off, addr, len, op_flags, user_data, buf_index,
#: personality, splice_fd_in, addr3, pad.
_SQE: Final = struct.Struct("<BBHiQQIIQHHiQQ")
#: The first 40 bytes of an SQE (opcode .. user_data): all that :meth:`Ring.prep` writes.
#: The other 24 (buf_index, personality, splice_fd_in, addr3) are zero in every slot: the
#: kernel maps the SQE array zero-filled, never writes to it, and nothing here writes
#: a non-zero value there, so packing 9 fields instead of 14 leaves whole, valid SQEs.
_SQE_HEAD: Final = struct.Struct("<BBHiQQIIQ")
_SQE_SIZE: Final = 64
#: ``struct io_uring_sqe.user_data``: a u64 at byte 32.
_SQE_USER_DATA: Final = struct.Struct("<Q")
#: ``struct io_uring_sqe.rw_flags`` (``msg_flags``, ``nop_flags``...): a u32 at byte 28.
_SQE_OP_FLAGS: Final = struct.Struct("<I")
_pack_sqe_head: Final = _SQE_HEAD.pack_into
#: struct io_uring_buf_reg: ring_addr, ring_entries, bgid, flags, resv[3].
_BUF_REG: Final = struct.Struct("<QIHH3Q")
#: struct io_uring_buf without its last field: addr, len, bid.  The ring's tail is the
#: u16 that entry 0 has in that last field (byte 14), so entries are packed 14 bytes
#: wide and never overwrite it.
_BUF_ENTRY: Final = struct.Struct("<QIH")
_pack_buf_entry: Final = _BUF_ENTRY.pack_into
_BUF_ENTRY_SIZE: Final = 16
#: Provided buffers start this far into a page, as the transports' read buffers do
#: (see ``layerloop_transports._buffers``): the copy out of them into a new ``bytes``
#: then never meets the CPU's 4K-aliasing stall.
_BUF_PAGE_OFFSET: Final = 2048
#: How many provided buffers the ring offers at first (doubling on demand): few enough
#: that the buffers in use stay in the CPU's cache, enough for a burst of arrivals.
BUFFERS_OFFERED_FIRST: Final = 16
_CQE: Final = struct.Struct("<QiI")
_iter_cqes: Final = _CQE.iter_unpack
_NO_COMPLETIONS: Final[tuple[tuple[int, int, int], ...]] = ()
_CQE_SIZE: Final = 16
#: struct io_uring_getevents_arg: sigmask, sigmask_sz, min_wait_usec, ts (pointer).
_GETEVENTS_ARG: Final = struct.Struct("<QIIQ")
_TIMESPEC: Final = struct.Struct("<qq")

#: Not written as a ``sys.platform`` comparison, so that type checkers for other
#: platforms still check the driver's code.
ON_LINUX: Final[bool] = sys.platform.startswith("linux")

_libc: ctypes.CDLL | None = None


def _syscall() -> ctypes._NamedFuncPointer:
    global _libc
    if _libc is None:
        # CDLL releases the GIL around each call: needed while enter blocks.
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc.syscall


class SliceCopies(Protocol):
    """Memory whose slices are copies (an ``mmap``): ``area[start:stop]`` is ``bytes``."""

    def __getitem__(self, index: slice, /) -> bytes: ...


class RingDriver(Protocol):
    """What the backend needs from a ring: the seam a compiled driver can fill.

    All methods are called from the creating thread only.
    """

    #: Setup flags the kernel accepted.
    setup_flags: int
    #: ``FEAT_*`` bits the kernel reported.
    features: int

    def fileno(self) -> int: ...

    def prep(  # noqa: PLR0917 - the SQE's fields, in order, on the hot path
        self,
        opcode: int,
        fd: int,
        addr: int,
        length: int,
        offset: int,
        op_flags: int,
        user_data: int,
        ioprio: int = 0,
    ) -> None:
        """Queue one SQE; submitted by the next :meth:`enter`."""
        ...

    def withdraw(self, user_data: int) -> bool:
        """Turn a queued request the kernel has not been handed yet into a ``NOP`` with
        the same user_data (completing with result 0); False if it was handed over."""
        ...

    def enter(self, timeout: float | None) -> None:
        """Submit what is queued and wait up to *timeout* seconds (``None``: until a
        completion; ``0``: not at all) for a completion.  ``EINTR`` and ``ETIME`` return
        normally."""
        ...

    def completions(self) -> Sequence[tuple[int, int, int]]:
        """Consume the completions posted so far and return them as
        ``(user_data, res, flags)``, oldest first.  Callers may queue new SQEs while
        handling them."""
        ...

    def supported_ops(self) -> frozenset[int]:
        """The opcodes ``IORING_REGISTER_PROBE`` reports as supported."""
        ...

    def close(self) -> None:
        """Unmap the rings and close the fd.  Idempotent."""
        ...

    def forget(self) -> None:
        """In a forked child: close the fd copy without touching the (unmapped) memory."""
        ...


class BufferRingDriver(RingDriver, Protocol):
    """A :class:`RingDriver` that also offers a provided-buffer ring (optional: the
    backend uses it only when a driver has these methods and :meth:`provide_buffers`
    succeeds; otherwise every receive goes into a buffer lent by the stream's owner)."""

    def provide_buffers(self, count: int, size: int) -> bool:
        """Register buffer group 0: *count* (a power of two) buffers of *size* bytes,
        owned by the driver until :meth:`close`.  False if the kernel refuses."""
        ...

    def prep_recv_multishot(self, fd: int, user_data: int) -> None:
        """Queue a multishot ``RECV`` on *fd* that picks its buffers from group 0."""
        ...

    def buffer_area(self) -> tuple[SliceCopies, Sequence[int]]:
        """The memory holding the provided buffers, and where each buffer starts in it.
        Slicing the memory copies the bytes out; the buffer stays the kernel's to refill
        only once it is given back."""
        ...

    def returned_buffers(self) -> list[int]:
        """The list to append the id of each provided buffer to once its data is copied
        out, in the order the CQEs came: the next :meth:`enter` hands them back to the
        kernel and empties the list."""
        ...

    def abandon_buffers(self) -> object:
        """The provided buffers may still be written by requests that never reported:
        return what keeps their memory mapped, and never unmap it in :meth:`close`."""
        ...


class Ring:
    """The ctypes driver: one io_uring instance owned by the creating thread."""

    __slots__ = (
        "_argsz",
        "_buf_addr",
        "_buf_map",
        "_buf_mask",
        "_buf_offered",
        "_buf_reserve",
        "_buf_returned",
        "_buf_ring",
        "_buf_size",
        "_buf_slots",
        "_buf_starts",
        "_buf_tail",
        "_buf_tails",
        "_closed",
        "_cq_entries",
        "_cq_head",
        "_cq_map",
        "_cq_mask",
        "_cq_tail",
        "_cqes_off",
        "_cqmv",
        "_cqring",
        "_enter_arg",
        "_enter_arg_ptr",
        "_fd",
        "_pending",
        "_sq_entries",
        "_sq_head",
        "_sq_limit",
        "_sq_map",
        "_sq_mask",
        "_sq_tail",
        "_sqe_map",
        "_sqes",
        "_sqmv",
        "_syscall",
        "_tail",
        "_timespec",
        "features",
        "setup_flags",
    )

    def __init__(self, entries: int = 256, flags: int | None = None) -> None:
        self._closed = True
        self._buf_map: mmap.mmap | None = None
        self._buf_tails: memoryview | None = None
        self._buf_returned: list[int] = []
        self._buf_offered = 0
        self._buf_reserve: list[int] = []
        if not ON_LINUX:
            raise OSError(errno.ENOSYS, f"io_uring is Linux-only, not {sys.platform}")
        syscall = _syscall()
        self._syscall = syscall
        candidates = (
            [flags]
            if flags is not None
            else [
                SETUP_SINGLE_ISSUER | SETUP_DEFER_TASKRUN,
                SETUP_COOP_TASKRUN | SETUP_TASKRUN_FLAG,
            ]
        )
        params = ctypes.create_string_buffer(_PARAMS.size)
        fd = -1
        err = 0
        for candidate in candidates:
            # A CQ four times the SQ: multishot bursts and batches must not overflow it.
            values = [0] * 28
            values[1] = entries * 4
            values[2] = candidate | SETUP_CQSIZE
            _PARAMS.pack_into(params, 0, *values)
            fd = syscall(SYS_IO_URING_SETUP, entries, params)
            if fd >= 0:
                self.setup_flags = candidate
                break
            err = ctypes.get_errno()
            if err != errno.EINVAL:
                break  # ENOSYS, EPERM, ENOMEM...: fewer flags will not help
        if fd < 0:
            raise OSError(err, f"io_uring_setup: {os.strerror(err)}")
        self._fd = fd
        try:
            self._map(_PARAMS.unpack_from(params))
        except BaseException:
            os.close(fd)
            raise
        self._closed = False

    def _map(self, p: tuple[int, ...]) -> None:
        sq_entries, cq_entries, _flags, _cpu, _idle, features = p[:6]
        (sq_head, sq_tail, sq_mask, _sq_n, _sq_flags, _dropped, sq_array, _r1, _ua1) = p[10:19]
        (cq_head, cq_tail, cq_mask, _cq_n, _overflow, cqes, _cq_flags, _r2, _ua2) = p[19:28]
        self.features = features
        self._sq_map = _map_shared(self._fd, sq_array + sq_entries * 4, _OFF_SQ_RING)
        self._cq_map = _map_shared(self._fd, cqes + cq_entries * _CQE_SIZE, _OFF_CQ_RING)
        self._sqe_map = _map_shared(self._fd, sq_entries * _SQE_SIZE, _OFF_SQES)
        self._sqmv = memoryview(self._sq_map).cast("I")
        self._cqmv = memoryview(self._cq_map)
        self._sqes = memoryview(self._sqe_map)
        self._sq_head = sq_head // 4
        self._sq_tail = sq_tail // 4
        self._sq_mask = self._sqmv[sq_mask // 4]
        self._sq_entries = sq_entries
        self._cq_head = cq_head // 4
        self._cq_tail = cq_tail // 4
        self._cqring = self._cqmv.cast("I")
        self._cq_mask = self._cqring[cq_mask // 4]
        self._cq_entries = cq_entries
        self._cqes_off = cqes
        base = sq_array // 4
        for i in range(sq_entries):
            self._sqmv[base + i] = i
        self._tail = self._sqmv[self._sq_tail]
        # prep() checks for a full SQ only when the tail reaches this value: the SQ head
        # (the kernel's consumer index) only ever moves forward, so until then there is
        # room.
        self._sq_limit = (self._sqmv[self._sq_head] + sq_entries) & 0xFFFFFFFF
        self._pending = 0
        # The wait deadline: a timespec, and the getevents argument that points to it.
        self._timespec = ctypes.create_string_buffer(_TIMESPEC.size)
        self._enter_arg = ctypes.create_string_buffer(_GETEVENTS_ARG.size)
        _GETEVENTS_ARG.pack_into(self._enter_arg, 0, 0, 0, 0, ctypes.addressof(self._timespec))
        self._enter_arg_ptr = ctypes.c_void_p(ctypes.addressof(self._enter_arg))
        self._argsz = ctypes.c_size_t(_GETEVENTS_ARG.size)

    def fileno(self) -> int:
        return self._fd

    def __repr__(self) -> str:
        if self._closed:
            return "<Ring closed>"
        return f"<Ring fd={self._fd} entries={self._sq_entries} flags={self.setup_flags:#x}>"

    # -- submission ------------------------------------------------------------------

    def prep(  # noqa: PLR0917 - the SQE's fields, in order, on the hot path
        self,
        opcode: int,
        fd: int,
        addr: int,
        length: int,
        offset: int,
        op_flags: int,
        user_data: int,
        ioprio: int = 0,
    ) -> None:
        tail = self._tail
        if tail == self._sq_limit:
            tail = self._make_room()
        _pack_sqe_head(
            self._sqes,
            (tail & self._sq_mask) * _SQE_SIZE,
            opcode,
            0,
            ioprio,
            fd,
            offset,
            addr,
            length,
            op_flags,
            user_data,
        )
        self._tail = (tail + 1) & 0xFFFFFFFF
        self._pending += 1

    def withdraw(self, user_data: int) -> bool:
        """Turn the request *user_data* into a ``NOP`` if the kernel has not been handed
        it yet; True if so.

        Without SQPOLL the kernel reads submission entries only inside
        ``io_uring_enter``, in order, so the last ``_pending`` entries before our tail
        are still ours to rewrite.  The ``NOP`` keeps the user_data and completes with
        result 0, so the request still reports exactly once; its buffer is never read.
        """
        pending = self._pending
        if not pending:
            return False
        sqes = self._sqes
        mask = self._sq_mask
        tail = self._tail
        for back in range(1, pending + 1):
            offset = ((tail - back) & mask) * _SQE_SIZE
            if _SQE_USER_DATA.unpack_from(sqes, offset + 32)[0] == user_data:
                sqes[offset] = OP_NOP  # opcode
                sqes[offset + 1] = 0  # flags: no linking, no buffer selection
                # nop_flags (the op-flags word at byte 28) must be 0: newer kernels read
                # bits there (IORING_NOP_INJECT_RESULT...) and refuse unknown ones.
                _SQE_OP_FLAGS.pack_into(sqes, offset + 28, 0)
                return True
        return False

    def _make_room(self) -> int:
        """Refresh the full-SQ limit; if the SQ is really full, hand the batch to the
        kernel without waiting.  Returns the tail to fill."""
        entries = self._sq_entries
        self._sq_limit = (self._sqmv[self._sq_head] + entries) & 0xFFFFFFFF
        if self._tail == self._sq_limit:
            self.enter(0.0)
            self._sq_limit = (self._sqmv[self._sq_head] + entries) & 0xFFFFFFFF
            if self._tail == self._sq_limit:
                raise OSError(errno.EBUSY, "io_uring submission queue is full")
        return self._tail

    def enter(self, timeout: float | None) -> None:
        # Once per loop iteration, in one frame: the ctypes call already costs more
        # than the system call it makes.
        pending = self._pending
        if pending:
            self._sqmv[self._sq_tail] = self._tail
        if self._buf_returned:
            # Returned buffers go back to the kernel here: it reads the buffer ring
            # only inside io_uring_enter (DEFER_TASKRUN, no SQPOLL).
            self._give_back()
        if timeout is None:
            ret: int = self._syscall(
                SYS_IO_URING_ENTER, self._fd, pending, 1, ENTER_GETEVENTS, None, 0
            )
        elif timeout <= 0:
            ret = self._syscall(SYS_IO_URING_ENTER, self._fd, pending, 0, ENTER_GETEVENTS, None, 0)
        else:
            seconds = int(timeout)
            _TIMESPEC.pack_into(self._timespec, 0, seconds, int((timeout - seconds) * 1e9))
            ret = self._syscall(
                SYS_IO_URING_ENTER,
                self._fd,
                pending,
                1,
                ENTER_GETEVENTS | ENTER_EXT_ARG,
                self._enter_arg_ptr,
                self._argsz,
            )
        if ret >= 0:
            self._pending = pending - ret if ret <= pending else 0
            return
        err = ctypes.get_errno()
        if err in (errno.EINTR, errno.ETIME, errno.EAGAIN, errno.EBUSY):
            # Interrupted, timed out, or the CQ is full (EBUSY: reap, then retry).
            return
        raise OSError(err, f"io_uring_enter: {os.strerror(err)}")

    # -- completion ------------------------------------------------------------------

    def completions(self) -> Sequence[tuple[int, int, int]]:
        ring = self._cqring
        head = ring[self._cq_head]
        tail = ring[self._cq_tail]
        if head == tail:
            return _NO_COMPLETIONS
        # The posted entries are the ring slots from head to tail (at most two slices:
        # the run may wrap around the end of the array).  They are unpacked in one C loop
        # each and consumed (the head stored) before any is handled, so a handler that
        # queues and submits more work never sees them again.
        start = head & self._cq_mask
        end = start + ((tail - head) & 0xFFFFFFFF)
        base = self._cqes_off
        cqmv = self._cqmv
        entries = self._cq_entries
        if end <= entries:
            posted = list(_iter_cqes(cqmv[base + start * _CQE_SIZE : base + end * _CQE_SIZE]))
        else:
            posted = list(_iter_cqes(cqmv[base + start * _CQE_SIZE : base + entries * _CQE_SIZE]))
            posted += _iter_cqes(cqmv[base : base + (end - entries) * _CQE_SIZE])
        ring[self._cq_head] = tail
        return posted

    # -- provided buffers ------------------------------------------------------------

    def provide_buffers(self, count: int, size: int) -> bool:
        """Register group 0 (``IORING_REGISTER_PBUF_RING``, 5.19+) with *count* buffers.

        One private anonymous mapping holds the ring (``count`` 16-byte entries, page
        aligned as the kernel requires) and then the buffers, each *size* bytes and
        starting ``_BUF_PAGE_OFFSET`` into a page.  Pages are touched lazily: memory is
        spent on the buffers the kernel actually fills.  The kernel pins the ring's
        pages (fork then copies them for the child, never the parent's); it writes into
        the buffers only during our own ``io_uring_enter`` (``DEFER_TASKRUN``).
        """
        if self._buf_map is not None:
            raise RuntimeError("buffers are already provided")
        if count <= 0 or count & (count - 1) or count > 32768:
            raise ValueError(f"count must be a power of two up to 32768, not {count}")
        if size <= 0 or size % mmap.PAGESIZE:
            raise ValueError(f"size {size} is not a multiple of the page size {mmap.PAGESIZE}")
        ring_bytes = -(-count * _BUF_ENTRY_SIZE // mmap.PAGESIZE) * mmap.PAGESIZE
        total = ring_bytes + _BUF_PAGE_OFFSET + count * size
        region = _map_private(total)
        view = memoryview(region)
        base = ctypes.addressof(ctypes.c_char.from_buffer(view))
        reg = ctypes.create_string_buffer(_BUF_REG.size)
        _BUF_REG.pack_into(reg, 0, base, count, 0, 0, 0, 0, 0)
        ret = self._syscall(SYS_IO_URING_REGISTER, self._fd, REGISTER_PBUF_RING, reg, 1)
        if ret < 0:
            view.release()
            region.close()
            return False
        first = base + ring_bytes + _BUF_PAGE_OFFSET
        self._buf_map = region
        self._buf_ring = view[:ring_bytes]
        tails = view[:ring_bytes].cast("H")
        view.release()
        self._buf_addr = first
        self._buf_size = size
        self._buf_mask = count - 1
        # Where each buffer starts in the mapping: slicing the mmap copies in one step.
        self._buf_starts = [ring_bytes + _BUF_PAGE_OFFSET + bid * size for bid in range(count)]
        # Which buffer each ring slot names (slot i starts with buffer i).
        self._buf_slots = list(range(count))
        for bid in range(count):
            _pack_buf_entry(self._buf_ring, bid * _BUF_ENTRY_SIZE, first + bid * size, size, bid)
        # The tail is entry 0's last u16 (byte 14, index 7 of the u16 view); a u16
        # counter that wraps, compared with the kernel's head modulo 2**16.  Our count
        # (_buf_tail) does not wrap; it is published modulo 2**16.
        #
        # Only the first few buffers are offered at first; the rest wait in reserve
        # until one enter takes half of those on offer (see _give_back).  The kernel
        # takes buffers in ring order, so the buffers it fills cycle through all those
        # on offer: offering few keeps the ones it writes into (and we copy out of)
        # in the CPU's cache, where cycling through all *count* would not.
        offered = min(count, BUFFERS_OFFERED_FIRST)
        self._buf_offered = offered
        self._buf_reserve = list(range(count - 1, offered - 1, -1))
        self._buf_tail = offered
        self._buf_tails = tails
        tails[7] = offered
        return True

    def prep_recv_multishot(self, fd: int, user_data: int) -> None:
        tail = self._tail
        if tail == self._sq_limit:
            tail = self._make_room()
        # buf_group (byte 40) stays 0: group 0 is the only one, so the zero-tail
        # invariant of the SQE slots holds.
        _pack_sqe_head(
            self._sqes,
            (tail & self._sq_mask) * _SQE_SIZE,
            OP_RECV,
            SQE_BUFFER_SELECT,
            RECV_MULTISHOT,
            fd,
            0,
            0,
            0,
            0,
            user_data,
        )
        self._tail = (tail + 1) & 0xFFFFFFFF
        self._pending += 1

    def buffer_area(self) -> tuple[SliceCopies, Sequence[int]]:
        if self._buf_map is None:
            raise RuntimeError("no provided buffers")
        return self._buf_map, self._buf_starts

    def returned_buffers(self) -> list[int]:
        return self._buf_returned

    def _give_back(self) -> None:
        # Into the slots at our tail.  The kernel takes buffers from the head in ring
        # order and never writes the entries, and completions come in the order it
        # took them, so the slots at the tail (the ones the head took *count* buffers
        # ago) normally still name these very buffers, in this order (one list
        # comparison, in C): then moving the tail is all it takes.  (With fewer than
        # *count* on offer this holds too: both are powers of two, so the order in
        # which the buffers on offer come round repeats every lap of the ring.)
        bids = self._buf_returned
        tail = self._buf_tail
        first = tail & self._buf_mask
        slots = self._buf_slots
        if slots[first : first + len(bids)] != bids:
            mask = self._buf_mask
            for index, bid in enumerate(bids):
                slot = (tail + index) & mask
                if slots[slot] != bid:
                    slots[slot] = bid
                    size = self._buf_size
                    _pack_buf_entry(
                        self._buf_ring,
                        slot * _BUF_ENTRY_SIZE,
                        self._buf_addr + bid * size,
                        size,
                        bid,
                    )
        tail += len(bids)
        if len(bids) * 2 > self._buf_offered and self._buf_reserve:
            # One enter took more than half of the buffers on offer (all of them when a
            # multishot ended with ENOBUFS): offer twice as many from now on.
            tail = self._offer_more(tail)
        bids.clear()
        self._buf_tail = tail
        self._buf_tails[7] = tail & 0xFFFF  # type: ignore[index]

    def _offer_more(self, tail: int) -> int:
        """Put as many reserve buffers as are on offer (or all that are left) in the
        slots from *tail*; returns the new tail."""
        reserve = self._buf_reserve
        mask = self._buf_mask
        size = self._buf_size
        more = min(self._buf_offered, len(reserve))
        for _ in range(more):
            bid = reserve.pop()
            slot = tail & mask
            self._buf_slots[slot] = bid
            _pack_buf_entry(
                self._buf_ring, slot * _BUF_ENTRY_SIZE, self._buf_addr + bid * size, size, bid
            )
            tail += 1
        self._buf_offered += more
        return tail

    def abandon_buffers(self) -> object:
        region = self._buf_map
        self._buf_map = None  # close() leaves it mapped
        return region

    # -- registration ----------------------------------------------------------------

    def supported_ops(self) -> frozenset[int]:
        nops = 256
        probe = ctypes.create_string_buffer(16 + 8 * nops)
        ret = self._syscall(SYS_IO_URING_REGISTER, self._fd, REGISTER_PROBE, probe, nops)
        if ret < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"IORING_REGISTER_PROBE: {os.strerror(err)}")
        raw = probe.raw
        ops_len = raw[1]
        found = set()
        for i in range(ops_len):
            op, _resv, op_flags = struct.unpack_from("<BBH", raw, 16 + 8 * i)
            if op_flags & PROBE_OP_SUPPORTED:
                found.add(op)
        return frozenset(found)

    # -- teardown --------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._sqmv.release()
        self._cqring.release()
        self._cqmv.release()
        self._sqes.release()
        for m in (self._sq_map, self._cq_map, self._sqe_map):
            m.close()
        os.close(self._fd)
        region = self._buf_map
        if region is not None:
            # After the fd: the ring's requests are all done (the backend drained
            # them), so nothing writes into the buffers any more.
            self._buf_map = None
            self._buf_ring.release()
            tails = self._buf_tails
            self._buf_tails = None
            if tails is not None:
                tails.release()
            region.close()

    def forget(self) -> None:
        if self._closed:
            return
        self._closed = True
        # The mappings are absent in the child (MADV_DONTFORK): never touch them, not
        # even to release them.  The mmap objects keep dangling pointers that nothing
        # uses; closing the fd copy is all that is safe.
        try:  # noqa: SIM105
            os.close(self._fd)
        except OSError:
            pass


def _map_shared(fd: int, length: int, offset: int) -> mmap.mmap:
    """Map one region of the ring fd, populated, and absent from forked children."""
    if sys.platform == "win32":
        raise OSError(errno.ENOSYS, "io_uring is Linux-only")
    else:
        share = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        region = mmap.mmap(fd, length, share, mmap.PROT_READ | mmap.PROT_WRITE, offset=offset)
        dontfork = getattr(mmap, "MADV_DONTFORK", None)
        if dontfork is not None:
            region.madvise(dontfork)
        return region


def _map_private(length: int) -> mmap.mmap:
    """Private anonymous memory (Python's ``mmap.mmap(-1, n)`` would be shared, and so
    written by a forked child into the parent's pages)."""
    if sys.platform == "win32":
        raise OSError(errno.ENOSYS, "io_uring is Linux-only")
    else:
        return mmap.mmap(-1, length, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


class BufferPin:
    """Holds a buffer export (``PyObject_GetBuffer``) for as long as the kernel may use
    the memory: the exporter can neither resize nor free it, and a ``memoryview`` cannot
    be released, until :meth:`release`.  One pin is reused for many operations.
    """

    __slots__ = ("_held", "_view", "address", "length")

    def __init__(self) -> None:
        # struct Py_buffer is 80 bytes on 64-bit CPython 3.11-3.13; keep room to spare.
        self._view = ctypes.create_string_buffer(128)
        self._held = False
        self.address = 0
        self.length = 0

    def pin(self, obj: object, writable: bool) -> int:
        """Export *obj*'s buffer (C-contiguous, writable if asked) and return its address."""
        if self._held:
            raise RuntimeError("the pin already holds a buffer")
        _get_buffer(obj, self._view, _PYBUF_WRITABLE if writable else 0)
        self._held = True
        buf, _obj, length = _PY_BUFFER_HEAD.unpack_from(self._view)
        self.address = buf
        self.length = length
        return buf  # type: ignore[no-any-return]

    def release(self) -> None:
        if self._held:
            self._held = False
            self.address = 0
            self.length = 0
            _release_buffer(self._view)

    @property
    def held(self) -> bool:
        return self._held

    def __del__(self) -> None:
        # Only reached once the operation's owner dropped us, i.e. after the completion.
        if self._held:
            self.release()


_PYBUF_WRITABLE: Final = 1
_PY_BUFFER_HEAD: Final = struct.Struct("PPn")
_get_buffer = ctypes.pythonapi.PyObject_GetBuffer
_get_buffer.argtypes = (ctypes.py_object, ctypes.c_char_p, ctypes.c_int)
_get_buffer.restype = ctypes.c_int
_release_buffer = ctypes.pythonapi.PyBuffer_Release
_release_buffer.argtypes = (ctypes.c_char_p,)
_release_buffer.restype = None
