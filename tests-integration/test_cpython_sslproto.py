"""CPython's ``test_sslproto.BaseStartTLS`` (loop-agnostic ``start_tls`` and ``ssl=``
tests) on layerloop, once per selector backend.

CPython runs ``BaseStartTLS`` as ``SelectorStartTLSTests``, whose ``new_loop`` returns
``asyncio.SelectorEventLoop()``; here that class is subclassed per backend with
``new_loop`` returning our loop.  ``SslProtoHandshakeTests`` (CPython's private
``SSLProtocol`` driven with mocks) and ``ProactorStartTLSTests`` (Windows) are not
exposed.
"""

from __future__ import annotations

import _harness

_harness.bind_classes_per_backend(
    globals(), "test_sslproto", ["SelectorStartTLSTests"], loop_method="new_loop"
)
