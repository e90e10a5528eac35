"""Wires calendar-sync in one place: settings → event store, credentials, providers,
the effects and the reconcile loop. The API, the consumer and the poller all start here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
from psycopg_pool import ConnectionPool

from calendar_sync import oauth
from calendar_sync.application import Connections
from calendar_sync.caldav_calendar import CalDavAccount, CalDavCalendars
from calendar_sync.config import CalendarSyncSettings
from calendar_sync.credentials import credential_store
from calendar_sync.domain import NotConnected
from calendar_sync.effects import CalendarWrites
from calendar_sync.google_calendar import GoogleApp, GoogleCalendars
from calendar_sync.microsoft_calendar import MicrosoftApp, MicrosoftCalendars
from calendar_sync.reconcile import Reconciler
from calendar_sync.tables import create_tables
from calendar_sync.throttling import ConnectionLimits
from calendar_sync.watches import Watches
from kairos.auth import now_utc
from kairos.eventstore import open_application
from kairos.privacy import PersonalData
from kairos.privacy.sealed_store import SealedStore
from kairos.privacy.settings import key_store
from kairos.providers.calendar import CalendarProvider


@dataclass
class CalendarSync:
    settings: CalendarSyncSettings
    connections: Connections
    credentials: SealedStore
    providers: dict[str, CalendarProvider]
    writes: CalendarWrites
    reconciler: Reconciler
    privacy_pool: ConnectionPool
    watches: Watches
    google: GoogleApp | None
    microsoft: MicrosoftApp | None

    def close(self) -> None:
        self.connections.close()
        self.privacy_pool.close()


def wire(settings: CalendarSyncSettings, clock: Callable[[], datetime] = now_utc) -> CalendarSync:
    connections = open_application(lambda env: Connections(env=env), settings.database_url)
    credentials = credential_store(
        settings.database_url, settings.calendar_credential_keys.get_secret_value()
    )
    credentials.create_table()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        create_tables(conn)
        oauth.create_table(conn)

    def caldav_account(connection_id: UUID) -> CalDavAccount:
        values = credentials.get(connection_id)
        if values is None:
            raise NotConnected("no credentials for this connection", {"id": str(connection_id)})
        return CalDavAccount.of(values)

    def tokens_of(connection_id: UUID) -> dict[str, Any]:
        values = credentials.get(connection_id)
        if values is None:
            raise NotConnected("no credentials for this connection", {"id": str(connection_id)})
        return values

    providers: dict[str, CalendarProvider] = {"caldav": CalDavCalendars(caldav_account)}
    watches = Watches(
        settings.database_url,
        connections,
        providers,
        settings.calendar_oauth_state_key.get_secret_value(),
        settings.calendar_public_url,
        clock,
    )
    google = google_app(settings)
    if google is not None:
        providers["google"] = GoogleCalendars(google, tokens_of, credentials.put, watches.token)
    microsoft = microsoft_app(settings)
    if microsoft is not None:
        providers["microsoft"] = MicrosoftCalendars(
            microsoft, tokens_of, credentials.put, watches.token
        )
    limits = ConnectionLimits(settings.calendar_connection_concurrency)
    privacy_pool, keys = key_store(settings, 4)
    privacy_pool.open()
    personal = PersonalData(keys)
    public = settings.calendar_public_url.rstrip("/")
    writes = CalendarWrites(
        settings.database_url,
        connections,
        providers,
        personal,
        limits,
        join_link=lambda booking_id: f"{public}/bookings/{booking_id}/join",
    )
    reconciler = Reconciler(
        settings.database_url,
        connections,
        providers,
        limits,
        timedelta(days=settings.calendar_horizon_days),
        clock,
    )
    return CalendarSync(
        settings,
        connections,
        credentials,
        providers,
        writes,
        reconciler,
        privacy_pool,
        watches,
        google,
        microsoft,
    )


def google_app(settings: CalendarSyncSettings) -> GoogleApp | None:
    """calendar-sync's Google OAuth client, when one is configured."""
    if not settings.google_client_id:
        return None
    endpoints = {
        "auth_uri": settings.google_auth_uri,
        "token_uri": settings.google_token_uri,
        "api_url": settings.google_api_url,
    }
    return GoogleApp(
        settings.google_client_id,
        settings.google_client_secret.get_secret_value(),
        **{name: url for name, url in endpoints.items() if url},
    )


def microsoft_app(settings: CalendarSyncSettings) -> MicrosoftApp | None:
    """calendar-sync's Microsoft identity platform client, when one is configured."""
    if not settings.microsoft_client_id:
        return None
    endpoints = {
        "authority": settings.microsoft_authority,
        "graph_url": settings.microsoft_graph_url,
    }
    return MicrosoftApp(
        settings.microsoft_client_id,
        settings.microsoft_client_secret.get_secret_value(),
        verify=settings.microsoft_ca_bundle or True,
        **{name: url for name, url in endpoints.items() if url},
    )
