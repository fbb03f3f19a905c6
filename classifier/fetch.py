"""Fetching a note's pictures by URL (``notecheck score --images --fetch-images``), refusing
every target that is not a public web server.

A URL is fetched only when all of these hold, checked at every hop (redirects included):

* its scheme is ``http`` or ``https`` (never ``file://``, ``ftp://``, ``data:`` ...), with a host
  and no user name or password in it;
* every address its host resolves to is a public one: loopback (``127.0.0.0/8``, ``::1``),
  private (``10/8``, ``172.16/12``, ``192.168/16``, ``fc00::/7``), link-local (``169.254/16``, cloud
  metadata included, ``fe80::/10``), shared (``100.64/10``), unspecified, reserved and multicast
  addresses are refused, IPv4 inside IPv6 (``::ffff:127.0.0.1``) is judged as the IPv4 it holds;
* the connection goes to the address that was checked (the host is resolved once per hop and
  the socket opened to that address, with the host name only in ``Host`` and TLS SNI), so a DNS
  answer that changes between the check and the connection (DNS rebinding) is never used;
* at most :attr:`PictureFetcher.max_redirects` redirects, each to a URL passing the same checks;
* the answer is ``200`` with a ``Content-Type`` of ``image/*`` and at most ``max_bytes`` bytes
  (a larger ``Content-Length`` is refused before reading, a longer body when it passes the limit);
* the whole fetch ends within ``timeout_s`` seconds (each socket operation too).

A refusal or failure raises :class:`PictureFetchError` (an :class:`InputError` naming the field
``images[i]`` and the reason). The resolver and the opener are seams: tests inject them to
exercise the checks without the network (``tests/unit/test_picture_fetch.py``).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote, urljoin, urlsplit

from classifier.errors import InputError

__all__ = ["PictureFetchError", "PictureFetcher", "Target", "is_public_address"]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PATH_SAFE = "/%:@!$&'()*+,;=~-._"
"""Characters kept as they are in a request path (the rest, such as CJK or spaces, percent-encoded;
escapes already in the URL kept)."""


class PictureFetchError(InputError):
    """A picture URL was refused or could not be fetched; ``reason`` says which and why."""


@dataclass(frozen=True)
class Target:
    """One checked hop: connect to ``ip`` (the checked address), ask ``host`` for ``path``."""

    scheme: str
    host: str
    port: int
    ip: str
    path: str


class Response(Protocol):
    """What an opener answers (:class:`http.client.HTTPResponse` is one)."""

    status: int

    def getheader(self, name: str) -> str | None: ...

    def read(self, amt: int | None = None) -> bytes: ...

    def close(self) -> None: ...


Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> addresses`` (strings); the default asks the system resolver."""
Opener = Callable[[Target, float], Response]
"""``(target, timeout_s) -> response``: connects to ``target.ip``, never resolves the host."""


def is_public_address(address: str) -> bool:
    """True for an address of the public internet; False for loopback, private, link-local,
    shared, unspecified, reserved and multicast ones (IPv4-mapped IPv6 judged as its IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives ``host`` (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._ip = target.ip

    def connect(self) -> None:
        self.sock = socket.create_connection((self._ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout,
                         context=ssl.create_default_context())
        self._ip = target.ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def pinned_opener(target: Target, timeout: float) -> Response:
    """GET ``target.path`` from ``target.ip`` (the checked address) with ``Host``/SNI of
    ``target.host``; no redirect is followed here."""
    conn_type = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    conn = conn_type(target, timeout)
    conn.request("GET", target.path, headers={"Accept": "image/*", "User-Agent": "notecheck"})
    return conn.getresponse()


class PictureFetcher:
    """Fetches picture URLs under the checks of the module docstring."""

    def __init__(self, *, timeout_s: float = 10.0, max_bytes: int = 20 * 1024 * 1024,
                 max_redirects: int = 3, resolver: Resolver | None = None,
                 opener: Opener | None = None) -> None:
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.resolver: Resolver = resolver or system_resolver
        self.opener: Opener = opener or pinned_opener

    def fetch(self, url: str, *, field: str | None = None) -> bytes:
        """The picture's bytes; raises :class:`PictureFetchError` (``field``) when refused."""
        deadline = time.monotonic() + self.timeout_s
        current = url
        for hop in range(self.max_redirects + 1):
            via = "" if hop == 0 else f" (redirected from {url})"
            target = self.check(current, field=field, via=via)
            response = self._open(target, deadline, current, field)
            try:
                if response.status in REDIRECTS:
                    location = response.getheader("Location")
                    if not location:
                        raise PictureFetchError(f"{current} answered {response.status} without a "
                                                f"Location", field=field)
                    current = urljoin(current, location)
                    continue
                return self._body(response, current, deadline, field)
            finally:
                response.close()
        raise PictureFetchError(f"{url} redirected more than {self.max_redirects} times; not "
                                f"followed further", field=field)

    def check(self, url: str, *, field: str | None = None, via: str = "") -> Target:
        """The hop to make for ``url``, or :class:`PictureFetchError` saying why it is refused."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise PictureFetchError(f"{url!r}{via}: only http and https URLs are fetched, not "
                                    f"{scheme or 'a URL without a scheme'}", field=field)
        if parts.username is not None or parts.password is not None:
            raise PictureFetchError(f"{url!r}{via}: a URL with a user name or password is not "
                                    f"fetched", field=field)
        host = parts.hostname
        if not host:
            raise PictureFetchError(f"{url!r}{via}: the URL has no host", field=field)
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise PictureFetchError(f"{url!r}{via}: the port is not a number in 1..65535",
                                    field=field) from None
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = list(self.resolver(host, port))
            except (OSError, ValueError) as e:  # UnicodeError: a name IDNA cannot encode
                raise PictureFetchError(f"{url!r}{via}: the host {host!r} does not resolve ({e})",
                                        field=field) from None
        if not addresses:
            raise PictureFetchError(f"{url!r}{via}: the host {host!r} has no address", field=field)
        for address in addresses:
            try:
                public = is_public_address(address)
            except ValueError:
                public = False
            if not public:
                raise PictureFetchError(
                    f"{url!r}{via}: the host {host!r} resolves to {address}, not a public address "
                    f"(loopback, private, link-local and reserved addresses are never fetched)",
                    field=field)
        path = quote(parts.path or "/", safe=_PATH_SAFE) + (
            f"?{quote(parts.query, safe=_PATH_SAFE + '?')}" if parts.query else "")
        return Target(scheme=scheme, host=host, port=port, ip=addresses[0], path=path)

    def _open(self, target: Target, deadline: float, url: str, field: str | None) -> Response:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PictureFetchError(f"{url}: took longer than {self.timeout_s:g}s", field=field)
        try:
            return self.opener(target, left)
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise PictureFetchError(f"{url}: could not be fetched ({type(e).__name__}: {e})",
                                    field=field) from None

    def _body(self, response: Response, url: str, deadline: float, field: str | None) -> bytes:
        if response.status != 200:
            raise PictureFetchError(f"{url} answered HTTP {response.status}", field=field)
        kind = (response.getheader("Content-Type") or "").split(";", 1)[0].strip().lower()
        if not kind.startswith("image/"):
            raise PictureFetchError(f"{url} is {kind or 'of no content type'}, not an image/* "
                                    f"type; not read", field=field)
        length = response.getheader("Content-Length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            raise PictureFetchError(f"{url} is {int(length):,} bytes, more than the limit of "
                                    f"{self.max_bytes:,}", field=field)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                if time.monotonic() > deadline:
                    raise PictureFetchError(f"{url}: took longer than {self.timeout_s:g}s",
                                            field=field)
                chunk = response.read(64 * 1024)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise PictureFetchError(f"{url} is longer than the limit of "
                                            f"{self.max_bytes:,} bytes", field=field)
                chunks.append(chunk)
        except (OSError, http.client.HTTPException) as e:
            raise PictureFetchError(f"{url}: reading failed ({type(e).__name__}: {e})",
                                    field=field) from None
        return b"".join(chunks)
