"""``claimscan serve``: uvicorn, with one listening socket per worker process.

Under uvicorn's own supervisor every worker accepts from one shared socket, and the event loop
that wakes first takes every connection waiting: a burst of connections (a client opening a
pool) can all land on one worker while the others sit idle. Here each worker listens on a
socket of its own, all bound to the same port with ``SO_REUSEPORT``, and the kernel spreads
new connections across them. The parent only supervises: it restarts a worker that dies (with
the same socket, so no connection is refused meanwhile), forwards SIGHUP (each worker reloads
its model), and on SIGTERM or SIGINT stops the workers, which finish the requests in flight.
It also gives the workers one metrics directory, so any of them answers a scrape with the totals
of all (``app/workermetrics.py``), and its pid, so a reload asked of one worker over HTTP reaches
every worker (:func:`reload_every_worker`).

One worker, or a platform without ``SO_REUSEPORT``, runs plain ``uvicorn.run``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from app import workermetrics

__all__ = [
    "SUPERVISOR_VARIABLE",
    "bind_reuse_port",
    "defer_hangups_until_started",
    "hangup_while_starting",
    "reload_every_worker",
    "serve",
]

APP = "app.main:app"
SUPERVISOR_VARIABLE = "CLAIMSCAN_SUPERVISOR_PID"  # set in each worker's environment
logger = logging.getLogger("uvicorn.error")
_CRASH_PAUSE_S = 1.0  # before restarting a worker that died within this long of starting
_hangup_while_starting = threading.Event()


def serve(host: str, port: int, workers: int, **options: Any) -> int:
    """Serve until SIGTERM or SIGINT; the exit status for the command."""
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        defer_hangups_until_started()
        uvicorn.run(APP, host=host, port=port, workers=workers, **options)
        return 0
    return _Supervisor(host, port, workers, options).run()


def bind_reuse_port(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` TCP sockets bound to one address with SO_REUSEPORT; port 0 picks one free port for all."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def reload_every_worker() -> bool:
    """From a worker: ask the supervisor to send every worker SIGHUP. False when not under it.

    The supervisor forwards SIGHUP as if an operator had sent it, so the asking worker reloads
    again too; loading the model ``models/current`` names a second time changes nothing there.
    """
    supervisor = os.environ.get(SUPERVISOR_VARIABLE)
    # An orphaned worker's recorded pid may by now belong to some other process: signal only our parent.
    if supervisor is None or int(supervisor) != os.getppid():
        return False
    os.kill(int(supervisor), signal.SIGHUP)
    return True


def defer_hangups_until_started() -> None:
    """Until the app installs its own SIGHUP handler, once its model is loaded, SIGHUP's default action
    would end the process: a reload asked for while a worker starts (another worker's ``POST
    /admin/reload``, an operator's ``kill -HUP``) killed it. Remember the signal instead; the app asks
    :func:`hangup_while_starting` when it is up, and reloads if one came."""
    signal.signal(signal.SIGHUP, _remember_hangup)


def _remember_hangup(_signum: int, _frame: FrameType | None) -> None:
    _hangup_while_starting.set()


def hangup_while_starting() -> bool:
    """Whether SIGHUP arrived before the app could handle it, so the model may have come from the old
    ``models/current``; asking clears it."""
    received = _hangup_while_starting.is_set()
    _hangup_while_starting.clear()
    return received


def _run_worker(sock: socket.socket, options: dict[str, Any], supervisor: int) -> None:
    """A worker process: uvicorn serving the app on its own socket."""
    os.environ[SUPERVISOR_VARIABLE] = str(supervisor)
    defer_hangups_until_started()
    # uvicorn re-raises SIGTERM once it has drained; exiting 0 then tells the parent it stopped cleanly.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.Server(uvicorn.Config(APP, **options)).run(sockets=[sock])


def _exit_cleanly(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


class _Supervisor:
    def __init__(self, host: str, port: int, workers: int, options: dict[str, Any]) -> None:
        self.host, self.port, self.workers, self.options = host, port, workers, options
        self.context = multiprocessing.get_context("spawn")
        self.stopping = False
        self.exit_status = 0
        self.processes: list[BaseProcess] = []

    def run(self) -> int:
        uvicorn.Config(APP, **self.options)  # configures uvicorn's logging in this process too
        try:
            sockets = bind_reuse_port(self.host, self.port, self.workers)
        except OSError as exc:
            logger.error("cannot listen on %s:%s: %s", self.host, self.port, exc)
            return STARTUP_FAILURE
        try:
            with workermetrics.shared_directory() as metrics_directory:
                logger.info("Workers share their metrics in %s", metrics_directory)
                return self._supervise(sockets)
        finally:
            for sock in sockets:
                sock.close()

    def _supervise(self, sockets: list[socket.socket]) -> int:
        address = sockets[0].getsockname()
        logger.info("Uvicorn running on http://%s:%d with %d workers, one socket each", *address[:2], self.workers)
        for name in ("SIGTERM", "SIGINT"):
            signal.signal(getattr(signal, name), self._stop)
        signal.signal(signal.SIGHUP, self._forward)
        self.processes = processes = [self._start(sock) for sock in sockets]
        started = [time.monotonic()] * len(processes)
        try:
            while not self.stopping:
                wait([process.sentinel for process in processes], timeout=0.5)
                for index, process in enumerate(processes):
                    if process.is_alive() or self.stopping:
                        continue
                    if process.exitcode == STARTUP_FAILURE:  # the app cannot start: restarting would loop
                        logger.error("worker [%s] failed to start; stopping", process.pid)
                        self.stopping, self.exit_status = True, STARTUP_FAILURE
                        break
                    logger.warning("worker [%s] exited with %s; starting another", process.pid, process.exitcode)
                    self._forget(process)  # first, so a replacement given the same pid starts without its gauges
                    if time.monotonic() - started[index] < _CRASH_PAUSE_S:
                        time.sleep(_CRASH_PAUSE_S)
                    processes[index], started[index] = self._start(sockets[index]), time.monotonic()
        finally:
            self._stop_all(processes)
            for process in processes:  # matters for an operator's directory, which outlives this run
                self._forget(process)
        return self.exit_status

    def _start(self, sock: socket.socket) -> BaseProcess:
        process = self.context.Process(target=_run_worker, args=(sock, self.options, os.getpid()), daemon=False)
        process.start()
        logger.info("Started worker process [%s]", process.pid)
        return process

    @staticmethod
    def _forget(process: BaseProcess) -> None:
        if process.pid is not None:
            workermetrics.forget_worker(process.pid)

    def _stop_all(self, processes: list[BaseProcess]) -> None:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + float(self.options.get("timeout_graceful_shutdown") or 30) + 5
        for process in processes:
            process.join(max(deadline - time.monotonic(), 0))
            if process.is_alive():
                logger.error("worker [%s] did not stop in time; killing it", process.pid)
                process.kill()
                process.join()

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("%s received: stopping the workers", signal.Signals(signum).name)
        self.stopping = True

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signum)
