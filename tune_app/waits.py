"""Bounded waits: every connection the driver makes (a Ray cluster, MLflow, storage, a job
server) gives up after ``--connect-timeout`` seconds (default 30, or
``$PRUNE_SWEEP_CONNECT_TIMEOUT_S``) with one line naming what did not answer.

Clients of Ray and object stores retry for minutes (or forever, for a Ray address with nothing
behind it); a user waiting at a terminal hears about it within the bound instead."""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import urlsplit

from tune_app.errors import UserError

ENV = "PRUNE_SWEEP_CONNECT_TIMEOUT_S"
DEFAULT_S = 30.0
T = TypeVar("T")


def connect_timeout(flag: float | None = None) -> float:
    """``--connect-timeout``, else ``$PRUNE_SWEEP_CONNECT_TIMEOUT_S``, else 30 s."""
    if flag is not None:
        value, where = flag, "--connect-timeout"
    else:
        raw = os.environ.get(ENV)
        if not raw:
            return DEFAULT_S
        where = ENV
        try:
            value = float(raw)
        except ValueError:
            raise UserError(f"{ENV}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise UserError(f"{where} must be a positive number of seconds, got {value:g}")
    return float(value)


def bounded(fn: Callable[[], T], what: str, timeout_s: float) -> T:
    """``fn()`` in a daemon thread; a UserError naming ``what`` when it takes over
    ``timeout_s``. The abandoned call never holds up the process's exit."""
    outcome: list = []

    def target() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=target, daemon=True, name=f"bounded: {what}")
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        raise UserError(f"{what}: no answer within {timeout_s:g}s (--connect-timeout)")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


@contextmanager
def watchdog(what: str, timeout_s: float) -> Iterator[None]:
    """Guard a call that cannot be moved to a thread (``ray.init`` must run on the main
    thread): past ``timeout_s`` the process prints one line and exits 2. Use it only before
    anything is recorded, so that exiting leaves nothing half-written."""
    done = threading.Event()

    def expire() -> None:
        if not done.wait(timeout_s):
            print(f"prune-sweep: error: {what}: no answer within {timeout_s:g}s "
                  "(--connect-timeout)", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(2)

    thread = threading.Thread(target=expire, daemon=True, name=f"watchdog: {what}")
    thread.start()
    try:
        yield
    finally:
        done.set()


def host_port(address: str, default_port: int) -> tuple[str, int]:
    """(host, port) of ``HOST[:PORT]``, ``ray://HOST:PORT`` or ``http://HOST:PORT/...``."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port
    except ValueError:
        raise UserError(f"{address!r}: the port is not a number in 1..65535") from None
    if not parts.hostname:
        raise UserError(f"{address!r}: no host name")
    return parts.hostname, port or default_port


def check_tcp(address: str, default_port: int, what: str, timeout_s: float) -> None:
    """One line and exit 2 unless something accepts TCP connections at ``address``: connection
    refused, unknown host and silence (a firewall dropping packets) all end within the bound."""
    host, port = host_port(address, default_port)

    def connect() -> None:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass

    try:
        bounded(connect, f"{what} at {host}:{port}", timeout_s)
    except socket.gaierror as exc:
        raise UserError(f"cannot reach {what} at {host}:{port}: unknown host "
                        f"({exc.strerror or exc})") from None
    except TimeoutError:
        raise UserError(f"cannot reach {what} at {host}:{port}: no answer within "
                        f"{timeout_s:g}s (--connect-timeout)") from None
    except OSError as exc:
        raise UserError(f"cannot reach {what} at {host}:{port}: "
                        f"{(exc.strerror or str(exc)).lower()}") from None


def check_port_free(host: str, port: int, flag: str = "--port") -> None:
    """One line and exit 2 when ``host:port`` cannot be listened on (taken, or not local)."""
    if not 0 < port < 65536:
        raise UserError(f"{flag} {port} is not a TCP port (1..65535)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UserError(f"--host {host!r}: unknown host ({exc.strerror or exc})") from None
    family, kind, proto, _, sockaddr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As servers do: a port with only closed connections lingering (TIME_WAIT) is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            why = "already in use" if exc.errno in (98, 48) else (exc.strerror or str(exc))
            raise UserError(f"cannot listen on {host}:{port}: {why.lower()}; pick another "
                            f"with {flag}") from None
