"""add_reader/add_writer conformance: return values, level triggering, fd objects."""

from __future__ import annotations

import os
import socket
import sys
import unittest

from ._base import LoopSuite

__all__ = ["ReaderWriterSuite"]


class ReaderWriterSuite(LoopSuite):
    """``add_reader``/``remove_reader``/``add_writer``/``remove_writer``.

    What CPython's loop does, and what programs rely on: ``add_*`` returns ``None``,
    ``remove_*`` returns whether a callback was registered; both accept an ``int`` fd or
    any object with ``fileno()``; watches are level-triggered (a reader that does not
    drain its fd is called again on the next iteration); a second ``add_reader`` for
    the same fd replaces the first; the fd's blocking mode is never changed; a closed
    loop refuses new watches and reports no watch to remove.
    """

    def test_add_reader_returns_none_and_remove_reports_registration(self) -> None:
        r, w = self.socketpair()
        self.assertIsNone(self.loop.add_reader(r, lambda: None))
        self.assertTrue(self.loop.remove_reader(r))
        self.assertFalse(self.loop.remove_reader(r))
        self.assertIsNone(self.loop.add_writer(w, lambda: None))
        self.assertTrue(self.loop.remove_writer(w))
        self.assertFalse(self.loop.remove_writer(w))
        self.assertFalse(self.loop.remove_reader(w))

    def test_reader_is_called_with_its_arguments_when_data_arrives(self) -> None:
        r, w = self.socketpair()
        received: list[tuple[str, bytes]] = []

        def on_readable(tag: str) -> None:
            received.append((tag, r.recv(100)))

        self.loop.add_reader(r.fileno(), on_readable, "tag")
        self.run_briefly(3)
        self.assertEqual(received, [])
        w.send(b"ping")
        self.run_until(lambda: bool(received))
        self.assertEqual(received, [("tag", b"ping")])
        self.assertTrue(self.loop.remove_reader(r.fileno()))

    def test_reader_is_level_triggered(self) -> None:
        r, w = self.socketpair()
        calls: list[int] = []
        self.loop.add_reader(r, lambda: calls.append(1))
        w.send(b"x")
        self.run_until(lambda: len(calls) >= 3)
        # Once drained, the reader is no longer called.
        r.recv(10)
        self.run_briefly(2)
        seen = len(calls)
        self.run_briefly(3)
        self.assertEqual(len(calls), seen)
        self.loop.remove_reader(r)

    def test_writer_is_called_while_writable(self) -> None:
        _, w = self.socketpair()
        calls: list[str] = []
        self.loop.add_writer(w, calls.append, "writable")
        self.run_until(lambda: len(calls) >= 2)
        self.assertTrue(self.loop.remove_writer(w))
        seen = len(calls)
        self.run_briefly(3)
        self.assertEqual(len(calls), seen)

    def test_writer_waits_for_buffer_space(self) -> None:
        r, w = self.socketpair()
        w.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        try:
            while True:
                w.send(b"x" * 65536)
        except BlockingIOError:
            pass
        calls: list[bool] = []
        self.loop.add_writer(w, calls.append, True)
        self.run_briefly(3)
        self.assertEqual(calls, [], "writer called although the send buffer is full")

        def drain() -> bool:
            try:
                while r.recv(65536):
                    pass
            except BlockingIOError:
                pass
            return bool(calls)

        self.run_until(drain)
        self.loop.remove_writer(w)

    @unittest.skipIf(sys.platform == "win32", "select() on Windows watches sockets only")
    def test_reader_accepts_int_fds_of_pipes(self) -> None:
        if sys.platform != "win32":  # (for the type checker: the test skips before)
            rfd, wfd = os.pipe()
            self.addCleanup(os.close, rfd)
            self.addCleanup(os.close, wfd)
            os.set_blocking(rfd, False)
            got: list[bytes] = []
            self.loop.add_reader(rfd, lambda: got.append(os.read(rfd, 10)))
            os.write(wfd, b"pipe")
            self.run_until(lambda: bool(got))
            self.assertEqual(got, [b"pipe"])
            self.assertTrue(self.loop.remove_reader(rfd))

    def test_file_objects_and_their_fds_name_the_same_watch(self) -> None:
        r, _ = self.socketpair()
        self.loop.add_reader(r, lambda: None)
        self.assertTrue(self.loop.remove_reader(r.fileno()))
        self.loop.add_reader(r.fileno(), lambda: None)
        self.assertTrue(self.loop.remove_reader(r))

    def test_second_add_reader_replaces_the_first(self) -> None:
        r, w = self.socketpair()
        calls: list[str] = []

        def first() -> None:
            calls.append("first")

        def second() -> None:
            calls.append("second")
            r.recv(10)

        self.loop.add_reader(r, first)
        self.loop.add_reader(r, second)
        w.send(b"x")
        self.run_until(lambda: bool(calls))
        self.assertEqual(calls, ["second"])
        self.assertTrue(self.loop.remove_reader(r))
        self.assertFalse(self.loop.remove_reader(r))

    def test_reader_and_writer_on_one_fd_are_independent(self) -> None:
        a, b = self.socketpair()
        events: list[str] = []

        def on_read() -> None:
            events.append("read")
            a.recv(10)

        self.loop.add_reader(a, on_read)
        self.loop.add_writer(a, events.append, "write")
        self.run_until(lambda: "write" in events)
        self.assertTrue(self.loop.remove_writer(a))
        events.clear()
        b.send(b"x")
        self.run_until(lambda: "read" in events)
        self.run_briefly(2)
        self.assertNotIn("write", events)
        self.assertTrue(self.loop.remove_reader(a))

    def test_reader_removing_itself_is_called_once(self) -> None:
        r, w = self.socketpair()
        calls: list[int] = []

        def once() -> None:
            calls.append(1)
            self.loop.remove_reader(r)

        self.loop.add_reader(r, once)
        w.send(b"unread")
        self.run_until(lambda: bool(calls))
        self.run_briefly(3)
        self.assertEqual(calls, [1])

    def test_remove_reader_of_a_closed_fd_is_tolerated(self) -> None:
        r, w = socket.socketpair()
        self.addCleanup(w.close)
        fd = r.fileno()
        self.loop.add_reader(fd, lambda: None)
        r.close()
        self.assertTrue(self.loop.remove_reader(fd))
        self.run_briefly()

    def test_blocking_mode_is_left_alone(self) -> None:
        r, w = self.socketpair(blocking=True)
        self.loop.add_reader(r, lambda: None)
        self.loop.add_writer(w, lambda: None)
        self.assertTrue(r.getblocking())
        self.assertTrue(w.getblocking())
        self.run_briefly()
        self.assertTrue(r.getblocking())
        self.assertTrue(w.getblocking())
        self.loop.remove_reader(r)
        self.loop.remove_writer(w)
        if sys.platform != "win32":
            rfd, wfd = os.pipe()
            self.addCleanup(os.close, rfd)
            self.addCleanup(os.close, wfd)
            self.loop.add_reader(rfd, lambda: None)
            self.assertTrue(os.get_blocking(rfd))
            self.loop.remove_reader(rfd)

    def test_invalid_file_objects_raise_value_error(self) -> None:
        with self.assertRaises(ValueError):
            self.loop.add_reader(object(), lambda: None)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            self.loop.add_writer(-1, lambda: None)
        with self.assertRaises(ValueError):
            self.loop.remove_reader("not a file")  # type: ignore[arg-type]

    def test_reader_exception_goes_to_the_exception_handler(self) -> None:
        r, w = self.socketpair()

        def broken() -> None:
            r.recv(10)
            raise ZeroDivisionError

        with self.expect_exception_reports() as reports:
            self.loop.add_reader(r, broken)
            w.send(b"x")
            self.run_until(lambda: bool(self.exception_contexts))
        self.loop.remove_reader(r)
        self.assertIsInstance(reports[0]["exception"], ZeroDivisionError)
        self.assertIn("handle", reports[0])

    def test_closed_loop_refuses_watches(self) -> None:
        r, w = self.socketpair()
        self.loop.add_reader(r, lambda: None)
        self.loop.add_writer(w, lambda: None)
        self.loop.close()
        self.assertFalse(self.loop.remove_reader(r))
        self.assertFalse(self.loop.remove_writer(w))
        with self.assertRaises(RuntimeError):
            self.loop.add_reader(r, lambda: None)
        with self.assertRaises(RuntimeError):
            self.loop.add_writer(w, lambda: None)
