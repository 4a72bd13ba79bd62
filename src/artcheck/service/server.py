"""The HTTP server under the app: uvicorn, with the guards it lacks against held connections.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but never a connection
that sends its request headers slowly, or nothing at all: 2,000 such sockets stayed open for
as long as the client liked. ``GuardedH11Protocol`` gives every request's headers a deadline
and refuses connections past a cap; ``limit_concurrency`` answers 503 past the same cap.
"""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0     # a request's headers must arrive within this, from its first byte or the connection
KEEP_ALIVE_S = 5.0          # idle keep-alive connections are closed after this (uvicorn's own timer)
MAX_CONNECTIONS = 256       # open connections; past it new ones are closed at once (and requests get 503)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a connection cap."""

    header_timeout = HEADER_TIMEOUT_S
    max_connections = MAX_CONNECTIONS

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = None
        if len(self.connections) > self.max_connections:
            transport.close()
            return
        self._arm()

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_headers():       # the first bytes of a new request: its headers are due
            self._arm()
        super().data_received(data)
        if not self._waiting_for_headers():   # headers complete: the app's body deadline takes over
            self._disarm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)


def server_config(app, host: str, port: int, **kw):
    """The uvicorn configuration every artcheck server runs with (``serve`` and the tests)."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, http=GuardedH11Protocol, timeout_keep_alive=KEEP_ALIVE_S,
                          limit_concurrency=MAX_CONNECTIONS, **{"log_level": "warning", **kw})
