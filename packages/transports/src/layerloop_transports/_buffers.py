"""Read buffers placed where copying out of them stays fast.

Kernel and CPU facts
====================

* An anonymous ``mmap`` is page-aligned and zero-filled lazily: a page exists only once
  something writes to it.  A 256 KiB buffer that only ever receives 1 KiB messages costs
  one page, and creating it costs no ``memset`` (``bytearray(n)`` zero-fills all *n*
  bytes through ``calloc`` unless glibc happens to map fresh pages for it).
* Large blocks from ``malloc`` start 16 bytes into a page (glibc's chunk header), and a
  ``bytes`` object's data 32 bytes after its block: ``bytes(view[:n])`` of a large read
  lands about 48 bytes into a page.  When the source of a copy starts at nearly the same
  offset inside its page, the CPU mistakes loads from the source for loads of the bytes
  just stored to the destination ("4K aliasing") and stalls them: an echo of 100 KiB
  messages measured 2.5x the server CPU with the read buffer 16 bytes into its page
  against 2 KiB in.  Starting every read buffer half a page in keeps the two apart.
* The mappings are private (``MAP_PRIVATE``): Python's ``mmap(-1, n)`` alone maps
  *shared* anonymous memory, which a forked child would keep sharing with its parent,
  so a read in one process would land in the other's buffer (the free lists are
  module-level and survive ``fork``).  Private pages are copied on write instead.
* Each mapping is a kernel VMA, and a process may have ``vm.max_map_count`` of them
  (65530 by default): small buffers, which a completion backend lends to every idle
  connection, are therefore cut from shared mappings (:func:`new_read_buffers`).
"""

from __future__ import annotations

import mmap
import sys
from typing import Final

__all__ = ["new_read_buffer", "new_read_buffers"]

#: Where a read buffer's data starts inside its first page (pages are 4 KiB or larger).
PAGE_OFFSET: Final = 2048


def _anonymous(length: int) -> mmap.mmap:
    """A private, zero-filled, page-aligned anonymous mapping of *length* bytes."""
    if sys.platform == "win32":
        return mmap.mmap(-1, length)  # pagefile-backed, private to the process
    else:
        return mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def new_read_buffer(size: int) -> memoryview:
    """A writable, zero-filled buffer of *size* bytes (its own anonymous mapping, freed
    with the last view of it) that starts :data:`PAGE_OFFSET` bytes into a page."""
    return memoryview(_anonymous(PAGE_OFFSET + size))[PAGE_OFFSET : PAGE_OFFSET + size]


def new_read_buffers(size: int, count: int) -> list[memoryview]:
    """*count* buffers like :func:`new_read_buffer`'s, cut from one mapping (unmapped once
    none of them is referenced).  *size* must be a multiple of the page size, so that
    each starts :data:`PAGE_OFFSET` bytes into a page."""
    if size % mmap.PAGESIZE:
        raise ValueError(f"size {size} is not a multiple of the page size {mmap.PAGESIZE}")
    whole = memoryview(_anonymous(PAGE_OFFSET + size * count))
    return [
        whole[start : start + size]
        for start in range(PAGE_OFFSET, PAGE_OFFSET + size * count, size)
    ]
