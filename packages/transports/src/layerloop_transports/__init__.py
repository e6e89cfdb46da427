"""layerloop-transports: transports and the connection APIs, written once over the
backend interface.

:class:`StreamTransport` is the TCP/Unix stream transport, the
:class:`~layerloop_core.abc.StreamOwner` of a backend :class:`~layerloop_core.abc.Stream`;
:class:`DatagramTransport` is the UDP/``AF_UNIX`` datagram transport;
:class:`TransportsMixin` adds ``create_connection``, ``create_server``,
``create_unix_connection``, ``create_unix_server``, ``connect_accepted_socket``,
``create_datagram_endpoint`` and ``sendfile`` to a loop whose backend is a
:class:`~layerloop_core.abc.StreamBackend`; :class:`Server` is what the server methods
return.

>>> import layerloop_core
>>> class EventLoop(TransportsMixin, layerloop_core.EventLoop):
...     pass
"""

from __future__ import annotations

from ._datagram import DatagramTransport
from ._mixin import TransportsMixin
from ._server import ACCEPT_RETRY_DELAY, Server
from ._stream import StreamTransport
from ._version import __version__

__all__ = [
    "ACCEPT_RETRY_DELAY",
    "DatagramTransport",
    "Server",
    "StreamTransport",
    "TransportsMixin",
    "__version__",
]
