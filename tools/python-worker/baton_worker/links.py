"""A worker's sockets: one DEALER per shard, each with a monitor that reports its handshakes."""

from __future__ import annotations

from typing import Optional

import zmq

from . import wire
from .keys import Curve

#: The handshake failures a monitor reports, by the names libzmq gives them.
HANDSHAKE_FAILURES = {
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "HANDSHAKE_FAILED_NO_DETAIL",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "HANDSHAKE_FAILED_PROTOCOL",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "HANDSHAKE_FAILED_AUTH",
}
_MONITORED = zmq.EVENT_HANDSHAKE_SUCCEEDED
for _event in HANDSHAKE_FAILURES:
    _MONITORED |= _event


class LinkSocket:
    """One shard's DEALER and its monitor, opened again whole at every reconnection (a worker moves
    to a new connection on a new socket). Used by the I/O thread only."""

    def __init__(self, context: zmq.Context, endpoint: str, curve: Optional[Curve]) -> None:
        self.endpoint = endpoint
        self.curve = curve
        self.context = context
        self.socket: Optional[zmq.Socket] = None
        self.monitor: Optional[zmq.Socket] = None
        self.welcomed_once = False
        #: HANDSHAKE_FAILED_NO_DETAIL events since the last handshake that succeeded, across sockets.
        self.handshake_failures = 0
        self.open()

    def open(self) -> None:
        """Opens the DEALER and its monitor, and connects; on an error, leaves nothing open and raises."""
        sock = self.context.socket(zmq.DEALER)
        try:
            self._set_up(sock)
        except BaseException:
            self.socket = sock
            self.close()
            raise
        self.socket = sock

    def _set_up(self, sock: zmq.Socket) -> None:
        # Not ZMQ_IMMEDIATE: READY waits for the connection instead of failing (protocol.md).
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, wire.FRAME_LIMIT + 1024)
        sock.setsockopt(zmq.SNDHWM, 10_000)
        sock.setsockopt(zmq.RCVHWM, 10_000)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        if self.curve is not None:
            sock.curve_publickey = self.curve.pair.public.encode("ascii")
            sock.curve_secretkey = self.curve.pair.secret.encode("ascii")
            sock.curve_serverkey = self.curve.server_key.encode("ascii")
            # A handshake that does not finish in 5 s is given up, as Baton's own sockets do.
            sock.setsockopt(zmq.HANDSHAKE_IVL, 5000)
        self.monitor = sock.get_monitor_socket(_MONITORED)
        sock.connect(self.endpoint)

    def close(self, linger: int = 0) -> None:
        if self.socket is not None:
            try:
                self.socket.disable_monitor()
            except zmq.ZMQError:
                pass
            self.socket.close(linger)
            self.socket = None
        if self.monitor is not None:
            self.monitor.close(0)
            self.monitor = None

    def send(self, frame: bytes) -> bool:
        """Sends without blocking; False if it could not (EAGAIN: not connected now, not an error)."""
        try:
            self.socket.send(frame, zmq.DONTWAIT)
            return True
        except zmq.Again:
            return False
