"""layerloop-proactor: a completion I/O backend for layerloop on Linux io_uring.

:class:`UringBackend` implements :class:`layerloop_core.abc.StreamBackend` with io_uring
requests: a ``Protocol`` transport's socket keeps one multishot receive armed into a
shared provided-buffer ring, other reads land in the reader's own buffer, writes are
tried synchronously and then submitted, accepts are multishot,
``add_reader``/``add_writer`` are poll requests, and one ``io_uring_enter`` per loop
iteration submits and waits.  The ring is driven from
pure Python (``ctypes``, ``mmap``); :class:`RingDriver` (with the optional
:class:`BufferRingDriver`) is the seam a compiled driver can fill.

>>> from layerloop_core import EventLoop
>>> from layerloop_proactor import UringBackend, probe_uring
>>> if probe_uring().usable:
...     EventLoop(UringBackend()).close()
"""

from __future__ import annotations

from ._backend import UringBackend, UringUnavailableError
from ._probe import UringAvailability, probe_uring
from ._ring import BufferPin, BufferRingDriver, Ring, RingDriver, SliceCopies
from ._seccomp import deny_io_uring_setup
from ._version import __version__

__all__ = [
    "BufferPin",
    "BufferRingDriver",
    "Ring",
    "RingDriver",
    "SliceCopies",
    "UringAvailability",
    "UringBackend",
    "UringUnavailableError",
    "__version__",
    "deny_io_uring_setup",
    "probe_uring",
]
