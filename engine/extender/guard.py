"""Read timeouts uvicorn does not have: request headers and the TLS handshake.

uvicorn times out idle keep-alive connections only after a response; a connection that never
completes its request headers (a half-open or slowloris client) is held forever, and the TLS
handshake waits for the event loop's default of 60 s. Two small pieces close those gaps:

- ``guarded_protocol``: uvicorn's own HTTP protocol class with a timer armed when a connection
  opens and whenever a new request starts arriving, cancelled when its headers are complete
  (uvicorn then has a request cycle); on expiry the connection is closed. It also hands the
  app the ASGI ``tls`` extension (the verified client certificate), which uvicorn does not.
- ``loop_factory``: the event loop uvicorn would use, creating TLS servers with our handshake
  timeout (uvicorn passes none to ``create_server``).

The request body has its own limit in ``app.read_body``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def default_protocol() -> type[asyncio.Protocol]:
    """The class uvicorn's ``http="auto"`` picks: httptools when installed, else h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        return HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn[standard] brings httptools
        from uvicorn.protocols.http.h11_impl import H11Protocol

        return H11Protocol


def guarded_protocol(header_seconds: float, base: type[Any] | None = None) -> type[Any]:
    """``base`` (uvicorn's HTTP protocol) closing connections whose headers take too long."""
    parent: type[Any] = base or default_protocol()

    class HeaderTimeoutProtocol(parent):
        _header_timer: asyncio.TimerHandle | None = None
        _waiting_after: Any = None  # the request cycle current when the timer was armed

        _tls: dict[str, Any] | None = None  # the ASGI "tls" extension of this connection

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._tls = tls_extension(transport)
            self._arm()

        def on_headers_complete(self) -> None:  # httptools: the request's scope is complete
            if self._tls is not None:
                self.scope["extensions"] = {**self.scope.get("extensions", {}), "tls": self._tls}
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the first bytes of a new request on a kept-alive connection
            super().data_received(data)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._waiting_after = self.cycle
            self._header_timer = self.loop.call_later(header_seconds, self._headers_late)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if self.cycle is self._waiting_after and not self.transport.is_closing():
                self.transport.close()  # no request's headers completed in time

    return HeaderTimeoutProtocol


def tls_extension(transport: Any) -> dict[str, Any] | None:
    """The ASGI TLS extension for a connection (None for plain HTTP): the verified client
    certificate, if the client presented one (a presented one that fails verification has
    already failed the handshake)."""
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    import ssl

    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    subject = ssl_object.getpeercert().get("subject", ()) if der else ()
    name = ",".join(f"{k}={v}" for rdn in subject for k, v in rdn)
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name or None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }


def loop_factory(handshake_seconds: float) -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory of the loop uvicorn's ``loop="auto"`` would make, with a TLS handshake limit."""
    try:
        import uvloop

        base: type[Any] = uvloop.Loop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        base = asyncio.SelectorEventLoop

    class HandshakeTimeoutLoop(base):
        async def create_server(self, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("ssl") is not None and kwargs.get("ssl_handshake_timeout") is None:
                kwargs["ssl_handshake_timeout"] = handshake_seconds
            return await super().create_server(*args, **kwargs)

    return HandshakeTimeoutLoop
