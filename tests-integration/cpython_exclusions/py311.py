"""Exclusions for CPython 3.11's test.test_asyncio (see __init__.py for the format)."""

from __future__ import annotations

from . import (
    BASE_EVENTS_PRIVATE,
    IS_DEBUG_MODE_PATCH,
    MOCKED_BASE_EVENTS_SOCKET,
    RUN_ONCE,
    SELF_PIPE,
    SENDFILE_MODE_PRIVATE,
    SENDFILE_NATIVE_HOOK,
    TIMEOUT_ROUNDING,
    VIRTUAL_CLOCK,
)

EXCLUSIONS: dict[str, str] = {
    # -- test_events.EventLoopTestsMixin: create_server internals of BaseEventLoop --
    "test_events.EventLoopTestsMixin.test_create_server_multiple_hosts_ipv4": MOCKED_BASE_EVENTS_SOCKET,  # noqa: E501
    "test_events.EventLoopTestsMixin.test_create_server_multiple_hosts_ipv6": MOCKED_BASE_EVENTS_SOCKET,  # noqa: E501
    # -- test_events.EventLoopTestsMixin: BaseSelectorEventLoop internals --
    "test_events.EventLoopTestsMixin.test_internal_fds": SELF_PIPE,
    "test_events.EventLoopTestsMixin.test_timeout_rounding": TIMEOUT_ROUNDING,
    # -- test_tasks: tests of the fake loop, or of BaseEventLoop's private methods --
    "test_tasks.BaseTaskTests.test_cancel": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_stop_while_run_in_complete": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_wait": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_wait_first_completed": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_wait_first_exception": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_wait_first_exception_in_wait": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_wait_with_exception": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_wait_with_timeout": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_wait_concurrent_complete": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_wait_with_iterator_of_tasks": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_as_completed": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_as_completed_with_timeout": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_as_completed_with_unused_timeout": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_as_completed_reverse_wait": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_as_completed_concurrent": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_sleep": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_sleep_cancel": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_task_cancel_sleeping_task": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_baseexception_during_cancel": VIRTUAL_CLOCK,
    "test_tasks.BaseTaskTests.test_log_destroyed_pending_task": RUN_ONCE,
    "test_tasks.CoroutineGatherTests.test_issue46672": BASE_EVENTS_PRIVATE,
    # -- test_runners --
    "test_runners.RunTests.test_asyncio_run_debug": IS_DEBUG_MODE_PATCH,
    # -- test_sendfile.SendfileMixin: BaseEventLoop internals --
    "test_sendfile.SendfileMixin.test_sendfile_force_fallback": SENDFILE_NATIVE_HOOK,
    "test_sendfile.SendfileMixin.test_sendfile_force_unsupported_native": SENDFILE_NATIVE_HOOK,
    "test_sendfile.SendfileMixin.test_sendfile_fallback_close_peer_in_the_middle_of_receiving": SENDFILE_NATIVE_HOOK,  # noqa: E501
    "test_sendfile.SendfileMixin.test_sendfile_no_fallback_for_fallback_transport": SENDFILE_MODE_PRIVATE,  # noqa: E501
    # -- TLS: test_ssl.TestSSL on CPython's private SSLProtocol --
    # Both tests reach through the TLS transport into CPython's private SSLProtocol
    # (``writer.transport._ssl_protocol``, ``_test__append_write_backlog``) to force its
    # internal buffers; layerloop's TLS transport has no such attributes.  What they
    # check (application data written before close() is flushed before close_notify;
    # data the peer sends after its close_notify does not break our shutdown) is
    # checked through the public API by packages/transports/tests/test_transports_tls.py
    # (test_close_flushes_then_sends_close_notify, test_peer_close_notify_and_plain_eof).
    "test_ssl.TestSSL.test_flush_before_shutdown": (
        "drives CPython's private SSLProtocol (transport._ssl_protocol.pause_writing/"
        "resume_writing, _test__append_write_backlog); flushing before close_notify is "
        "test_transports_tls.py::test_close_flushes_then_sends_close_notify"
    ),
    "test_ssl.TestSSL.test_remote_shutdown_receives_trailing_data": (
        "fills CPython's private SSLProtocol write backlog through "
        "transport._test__append_write_backlog(); the shutdown exchange is "
        "test_transports_tls.py::test_peer_close_notify_and_plain_eof"
    ),
}
