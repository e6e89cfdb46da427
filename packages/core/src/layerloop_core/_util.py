"""Small helpers shared by the loop and by the layers above it."""

from __future__ import annotations

from typing import Any

__all__ = ["fileobj_to_fd"]


def fileobj_to_fd(fileobj: Any) -> int:
    """Return the file descriptor of *fileobj*: an ``int``, or an object with ``fileno()``.

    Raises :class:`ValueError` for an object without a usable ``fileno()`` or for a
    negative descriptor, with the messages :mod:`selectors` uses (``add_reader`` and
    friends report exactly these).
    """
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd
