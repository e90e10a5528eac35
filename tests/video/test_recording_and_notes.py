"""Recording only with the client's consent, through LiveKit's Egress API, shown as an
expiring signed link; notes written by the specialist alone, sealed under the client's
key so that erasing the client erases them."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
from livekit.protocol.egress import EgressStatus

from kairos.privacy import ERASED
from kairos.providers.video import Room
from tests.video.conftest import Video
from video.domain import Session


def room_for(video: Video, session: Session) -> None:
    video.rooms.prepare_room(Room(session.room, timedelta(hours=1), timedelta(minutes=2)))


def recording_effects(video: Video) -> list[str]:
    with psycopg.connect(video.database_url) as conn:
        rows = conn.execute(
            "SELECT status FROM effects WHERE kind = 'video.start_recording'"
        ).fetchall()
    return [row[0] for row in rows]


def test_a_session_is_not_recorded_without_the_clients_consent(video: Video) -> None:
    session = video.session(recording="optional")
    room_for(video, session)
    video.join(session, "specialist")
    video.join(session, "client")
    assert video.fresh(session).state == "live"
    video.dispatch_effects()
    assert recording_effects(video) == []
    assert video.livekit.egresses == {}


def test_a_consented_recording_is_started_at_livekit_and_served_by_an_expiring_link(
    video: Video,
) -> None:
    session = video.session(recording="optional")
    video.http.post(
        f"/v1/bookings/{session.id}/recording-consent",
        headers=video.client(session),
        json={"consent": True},
    )
    room_for(video, session)
    video.join(session, "specialist")
    video.join(session, "client")
    assert video.dispatch_effects() == 1
    [egress] = video.livekit.egresses.values()
    assert egress.room_name == session.room
    assert video.fresh(session).recording_id == egress.egress_id

    httpx.post(f"{video.livekit_url}/fake/end-egress", json={"egress_id": egress.egress_id})
    shown = video.http.get(f"/v1/bookings/{session.id}/session", headers=video.client(session))
    link = shown.json()["recording_url"]
    assert link is not None and link.startswith(f"/v1/bookings/{session.id}/recording?")

    served = video.http.get(link)
    assert served.status_code == 307
    assert served.headers["location"].startswith("https://recordings.test/recordings/")

    query = parse_qs(urlsplit(link).query)
    forged = video.http.get(
        f"/v1/bookings/{session.id}/recording",
        params={"expires": int(query["expires"][0]) + 3600, "signature": query["signature"][0]},
    )
    assert forged.status_code == 403
    video.clock.now = video.fresh(session).starts_at + timedelta(days=1)
    assert video.http.get(link).status_code == 410


def test_withdrawing_consent_stops_the_recording_and_it_is_not_offered(video: Video) -> None:
    session = video.session(recording="optional")
    consent = f"/v1/bookings/{session.id}/recording-consent"
    room_for(video, session)
    video.join(session, "specialist")
    video.join(session, "client")
    assert video.fresh(session).state == "live"
    # Consent given once the call is live still starts the recording.
    video.http.post(consent, headers=video.client(session), json={"consent": True})
    video.dispatch_effects()
    [egress] = video.livekit.egresses.values()

    video.http.post(consent, headers=video.client(session), json={"consent": False})
    assert video.dispatch_effects() == 1
    assert egress.status == EgressStatus.EGRESS_COMPLETE  # stopped at LiveKit, through the SDK
    shown = video.http.get(f"/v1/bookings/{session.id}/session", headers=video.client(session))
    assert shown.json()["recording_consent"] is False
    assert shown.json()["recording_url"] is None


def test_notes_are_the_specialists_and_go_with_the_clients_data(video: Video) -> None:
    session = video.session(client_email="patient@example.com")
    path = f"/v1/bookings/{session.id}/notes"
    written = video.http.put(
        path, headers=video.specialist(session), json={"notes": "Sleeps badly."}
    )
    assert written.status_code == 200, written.text
    assert (
        video.http.put(path, headers=video.client(session), json={"notes": "x"}).status_code == 403
    )
    assert video.http.put(path, headers=video.admin(), json={"notes": "x"}).status_code == 403

    def notes(headers: dict[str, str]) -> object:
        return video.http.get(f"/v1/bookings/{session.id}/session", headers=headers).json()["notes"]

    assert notes(video.specialist(session)) == "Sleeps badly."
    assert notes(video.client(session)) is None
    # Stored sealed: the event store never holds the text.
    with psycopg.connect(video.database_url) as conn:
        stored = conn.execute("SELECT state FROM video_sessions_events").fetchall()
    assert all(b"Sleeps badly" not in bytes(row[0]) for row in stored)

    subject = video.keys.subject_of("patient@example.com")
    assert subject is not None
    video.keys.shred_subjects([subject])
    assert notes(video.specialist(session)) == ERASED
    again = video.http.put(path, headers=video.specialist(session), json={"notes": "More."})
    assert again.status_code == 410
