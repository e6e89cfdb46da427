"""Exclusions for CPython 3.11's test.test_asyncio (see __init__.py for the format)."""

from __future__ import annotations

from . import (
    BASE_EVENTS_PRIVATE,
    IS_DEBUG_MODE_PATCH,
    RUN_ONCE,
    SELF_PIPE,
    TIMEOUT_ROUNDING,
    TRANSPORTS,
    VIRTUAL_CLOCK,
)

EXCLUSIONS: dict[str, str] = {
    # -- test_events.EventLoopTestsMixin: transports, pipes, servers (later issue) --
    "test_events.EventLoopTestsMixin.test_create_connection": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_unix_connection": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_ssl_connection": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_ssl_unix_connection": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_connection_local_addr": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_connection_local_addr_skip_different_family": TRANSPORTS,  # noqa: E501
    "test_events.EventLoopTestsMixin.test_create_connection_local_addr_nomatch_family": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_connection_local_addr_in_use": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_connect_accepted_socket": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_ssl_connect_accepted_socket": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_connect_accepted_socket_ssl_timeout_for_plain_socket": TRANSPORTS,  # noqa: E501
    "test_events.EventLoopTestsMixin.test_create_server_multiple_hosts_ipv4": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_server_multiple_hosts_ipv6": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_server": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_server_reuse_port": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_unix_server": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_unix_server_path_socket_error": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_server_ssl": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_unix_server_ssl": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_server_ssl_verify_failed": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_unix_server_ssl_verify_failed": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_server_ssl_match_failed": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_unix_server_ssl_verified": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_server_ssl_verified": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_server_sock": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_server_addr_in_use": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_server_dual_stack": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_server_close": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_datagram_endpoint": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_datagram_endpoint_ipv6": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_create_datagram_endpoint_sock": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_read_pipe": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_unclosed_pipe_transport": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_read_pty_output": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_write_pipe": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_write_pipe_disconnect_on_close": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_write_pty": TRANSPORTS,
    "test_events.EventLoopTestsMixin.test_bidirectional_pty": TRANSPORTS,
    # -- test_events.EventLoopTestsMixin: BaseSelectorEventLoop internals --
    "test_events.EventLoopTestsMixin.test_internal_fds": SELF_PIPE,
    "test_events.EventLoopTestsMixin.test_timeout_rounding": TIMEOUT_ROUNDING,
    # -- test_sock_lowlevel.BaseSockTestsMixin --
    "test_sock_lowlevel.BaseSockTestsMixin.test_create_connection_sock": TRANSPORTS,
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
}
