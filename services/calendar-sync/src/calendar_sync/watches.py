"""Push channels (Google `events.watch`) and subscriptions (Graph): started on connect,
renewed before they expire (by the poller), stopped on disconnect, and each
notification checked against the secret its channel was given.

A channel's secret is an HMAC of its id under CALENDAR_OAUTH_STATE_KEY: nothing to
store, and a notification without it (or for an unknown channel) changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from uuid import UUID

import psycopg

from calendar_sync.application import Connections
from calendar_sync.tables import record_watch, watch_of, watched_by
from kairos.providers.calendar import CalendarProvider

#: Renew a channel this long before it expires.
RENEW_BEFORE = timedelta(days=1)


class Watches:
    def __init__(
        self,
        database_url: str,
        connections: Connections,
        providers: Mapping[str, CalendarProvider],
        secret: str,
        public_url: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._url = database_url
        self._connections = connections
        self._providers = providers
        self._key = hashlib.sha256(f"channels/{secret}".encode()).digest()
        self._public = public_url.rstrip("/")
        self._clock = clock

    def token(self, channel_id: str) -> str:
        return hmac.new(self._key, channel_id.encode(), hashlib.sha256).hexdigest()

    def verify(self, channel_id: str, token: str) -> UUID | None:
        """The connection a notification is for, or None when it must be refused."""
        if not channel_id or not hmac.compare_digest(self.token(channel_id), token or ""):
            return None
        with psycopg.connect(self._url) as conn:
            connection_id = watched_by(conn, channel_id)
        if connection_id is None or not self._connections.connection(connection_id).active:
            return None
        return connection_id

    def verify_subscription(self, subscription_id: str, client_state: str) -> UUID | None:
        """A Graph notification's connection: its subscription must be one we hold and its
        clientState the one we gave that connection; None otherwise."""
        with psycopg.connect(self._url) as conn:
            connection_id = watched_by(conn, subscription_id) if subscription_id else None
        if connection_id is None:
            return None
        expected = self.token(str(connection_id))
        if not hmac.compare_digest(expected, client_state):
            return None
        return connection_id if self._connections.connection(connection_id).active else None

    def replace(self, connection_id: UUID) -> None:
        """A new channel or subscription in place of the current one (Graph asked for
        reauthorization, or removed it)."""
        with psycopg.connect(self._url) as conn:
            current = watch_of(conn, connection_id)
        self.start(connection_id)
        if current is not None:
            self.stop(connection_id, current[0])

    def start(self, connection_id: UUID) -> None:
        connection = self._connections.connection(connection_id)
        provider = self._providers[connection.provider]
        address = f"{self._public}/v1/webhooks/{connection.provider}"
        watch = provider.watch(connection_id, address, idempotency_key=str(connection_id))
        if watch is not None:
            with psycopg.connect(self._url) as conn:
                record_watch(conn, connection_id, watch.id, watch.expires_at)

    def renew_due(self, connection_id: UUID) -> None:
        """A new channel when the current one expires within RENEW_BEFORE; the old stops."""
        with psycopg.connect(self._url) as conn:
            current = watch_of(conn, connection_id)
        if current is None or current[1] - self._clock() > RENEW_BEFORE:
            return
        self.replace(connection_id)

    def stop(self, connection_id: UUID, watch_id: str | None = None) -> None:
        with psycopg.connect(self._url) as conn:
            current = watch_of(conn, connection_id)
        channel = watch_id or (current[0] if current else None)
        if channel is not None:
            connection = self._connections.connection(connection_id)
            self._providers[connection.provider].stop_watch(connection_id, channel)
