"""Where a webhook may be sent (SSRF protection).

A subscription's URL must name a public address: an admin's key must not turn the
webhooks service into a way to reach the cluster's own services, the cloud's metadata
endpoint or the machine's loopback. The URL is checked when the subscription is made,
and again at every delivery, where the host is resolved once and the connection goes to
the address that was checked (a DNS answer that changes between check and connect,
"DNS rebinding", reaches nothing else). Redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL may not be sent to; the message says why (it names no secret)."""


class TargetUnresolved(Exception):
    """The host has no address now (DNS may answer later)."""


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to for it."""

    url: str  # the URL with the checked address in place of the host name
    host: str  # the Host header: the URL's host[:port]
    server_name: str  # TLS SNI, the name the certificate is checked against
    address: Address


def public(address: Address) -> bool:
    """Globally routable: not private, loopback, link-local, shared (CGNAT), reserved or
    multicast. An IPv4-mapped IPv6 address is judged by its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class TargetPolicy:
    """What URLs are accepted. Production: https to public addresses only."""

    allow_private: bool = False
    require_https: bool = True

    def check_url(self, url: str) -> None:
        """Refuse a URL that is malformed or that this policy never sends to (without
        resolving it)."""
        parts = urlsplit(url)
        schemes = ("https",) if self.require_https else ("https", "http")
        if parts.scheme not in schemes:
            raise TargetRefused(
                f"the URL must start with {' or '.join(s + '://' for s in schemes)}"
            )
        if not parts.hostname:
            raise TargetRefused("the URL has no host")
        if parts.username is not None or parts.password is not None:
            raise TargetRefused("the URL must not carry credentials; the signature proves us")
        if parts.fragment:
            raise TargetRefused("the URL must not have a #fragment")
        try:
            parts.port  # noqa: B018 - raises on a port out of range
        except ValueError:
            raise TargetRefused("the URL's port is not a number from 1 to 65535") from None
        literal = _literal(parts.hostname)
        if literal is not None and not self.allow_private and not public(literal):
            raise TargetRefused("the URL names a private, loopback or reserved address")

    def resolve(self, url: str) -> Target:
        """Check `url`, resolve its host once and check every address it has; the Target
        to connect to. TargetUnresolved when DNS has no answer now."""
        self.check_url(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = _resolve(host, port)
        if not self.allow_private:
            refused = [a for a in addresses if not public(a)]
            if refused:
                raise TargetRefused(f"{host} resolves to a non-public address ({refused[0]})")
        address = addresses[0]
        shown = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{shown}:{parts.port}" if parts.port else shown
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        return Target(pinned, parts.netloc, host, address)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[Address]:
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetUnresolved(f"{host} does not resolve: {exc}") from None
    # A scoped IPv6 address ("fe80::1%eth0") is link-local: refused like the rest.
    addresses = list(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found)
    )
    if not addresses:
        raise TargetUnresolved(f"{host} has no address")
    return addresses
