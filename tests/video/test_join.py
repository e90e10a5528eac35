"""Joining a consultation's room: the waiting room's window, who may join and as what,
and what the token LiveKit receives says (decoded with LiveKit's own TokenVerifier)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from tests.booking.helpers import ALL_DAY_EVERY_DAY, Catalog, bearer
from tests.video.conftest import Video, decoded


def test_the_waiting_room_opens_ten_minutes_before_the_start_to_the_second(video: Video) -> None:
    session = video.session(starts_in=timedelta(hours=2))
    opens_at = session.starts_at - timedelta(minutes=10)

    video.clock.now = opens_at - timedelta(seconds=1)  # 10:00:01 before the start
    early = video.http.post(f"/v1/bookings/{session.id}/join", headers=video.client(session))
    assert early.status_code == 425
    error = early.json()["error"]
    assert error["code"] == "too_early"
    assert datetime.fromisoformat(error["details"]["opens_at"]) == opens_at

    video.clock.now = opens_at
    on_time = video.http.post(f"/v1/bookings/{session.id}/join", headers=video.client(session))
    assert on_time.status_code == 200, on_time.text


def test_the_specialist_joins_as_host_and_the_client_as_guest_of_that_room_only(
    video: Video,
) -> None:
    session = video.session()
    host = video.http.post(f"/v1/bookings/{session.id}/join", headers=video.specialist(session))
    guest = video.http.post(f"/v1/bookings/{session.id}/join", headers=video.client(session))
    assert host.status_code == guest.status_code == 200

    assert host.json()["role"] == "host" and guest.json()["role"] == "guest"
    assert host.json()["room"] == guest.json()["room"] == f"booking-{session.id}"
    assert host.json()["url"].startswith("ws://")
    as_host, as_guest = decoded(host.json()["token"]), decoded(guest.json()["token"])
    assert as_host.identity == f"specialist:{session.specialist_id}"
    assert as_guest.identity == f"client:{session.id}"
    for claims in (as_host, as_guest):
        assert claims.video is not None
        assert claims.video.room == f"booking-{session.id}"
        assert claims.video.room_join and claims.video.can_publish and claims.video.can_subscribe
        assert not claims.video.room_create and not claims.video.room_list
    assert as_host.video is not None and as_host.video.room_admin
    assert as_guest.video is not None and not as_guest.video.room_admin


def test_join_tokens_live_fifteen_minutes(video: Video) -> None:
    import jwt

    session = video.session()
    before = datetime.now(UTC).replace(microsecond=0)
    grant = video.http.post(f"/v1/bookings/{session.id}/join", headers=video.client(session))
    claims = jwt.decode(grant.json()["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["nbf"] == 15 * 60
    expires_at = datetime.fromisoformat(grant.json()["expires_at"])
    assert before + timedelta(minutes=15) <= expires_at <= before + timedelta(minutes=16)


def test_only_the_two_parties_may_join(video: Video) -> None:
    session, other = video.session(), video.session()
    path = f"/v1/bookings/{session.id}/join"

    another_specialist = video.http.post(path, headers=video.specialist(uuid4()))
    assert another_specialist.status_code == 403
    admin = video.http.post(path, headers=video.admin())
    assert admin.status_code == 403
    # Another booking's genuine manage token proves its holder, who is no party here.
    another_booking = video.http.post(path, headers=video.client(other))
    assert another_booking.status_code == 403
    nobody = video.http.post(path)
    assert nobody.status_code == 401
    assert another_specialist.json()["error"]["code"] == "forbidden"
    assert another_booking.json()["error"]["code"] == "forbidden"


def test_a_replaced_manage_token_joins_and_the_revoked_one_is_refused_at_once(
    video: Video,
) -> None:
    catalog = Catalog(video.booking)
    service = catalog.service(catalog.specialist(weekly=ALL_DAY_EVERY_DAY)["id"])
    starts_at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    booked = catalog.booked(service["id"], starts_at)
    session = video.session(booking_id=UUID(booked["id"]))
    path = f"/v1/bookings/{session.id}/join"
    first = bearer(booked["manage_token"])
    assert video.http.post(path, headers=first).status_code == 200

    replaced = video.booking.post(f"/v1/bookings/{session.id}/manage-token", headers=first)
    assert replaced.status_code == 201, replaced.text
    # No cache in between: the very next join with the old token proves no one.
    revoked = video.http.post(path, headers=first)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "unauthorized"
    assert video.http.post(path, headers=bearer(replaced.json()["manage_token"])).status_code == 200


def test_a_forged_or_garbled_manage_token_proves_no_one(video: Video) -> None:
    session, other = video.session(), video.session()
    path = f"/v1/bookings/{session.id}/join"
    own = video.auth.manage_token(session.id)
    *_, others_signature = video.auth.manage_token(other.id).split(".")
    own_id, generation, _ = own.split(".")

    for token in (
        "garbage",
        own[:-1] + ("A" if own[-1] != "A" else "B"),
        f"{own_id}.{generation}.{others_signature}",  # this booking, another's signature
        f"{own_id}.7.{own.split('.')[2]}",  # another generation under this one's signature
    ):
        refused = video.http.post(path, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401, token
        assert refused.json()["error"]["code"] == "unauthorized"


def test_a_closed_booking_answers_410_and_a_moved_one_opens_at_its_new_time(
    video: Video,
) -> None:
    cancelled, moved = video.session(), video.session()
    video.sessions.close_session(cancelled.id, "cancelled", datetime.now(UTC))
    gone = video.http.post(f"/v1/bookings/{cancelled.id}/join", headers=video.client(cancelled))
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "gone"

    later = moved.starts_at + timedelta(days=1)
    video.sessions.move(moved.id, later, later + timedelta(minutes=30))
    early = video.http.post(f"/v1/bookings/{moved.id}/join", headers=video.client(moved))
    assert early.status_code == 425
    opens_at = datetime.fromisoformat(early.json()["error"]["details"]["opens_at"])
    assert opens_at == later - timedelta(minutes=10)
    state = video.http.get(f"/v1/bookings/{moved.id}/session", headers=video.client(moved))
    assert datetime.fromisoformat(state.json()["opens_at"]) == opens_at


def test_a_recorded_service_lets_the_client_in_only_after_consenting(video: Video) -> None:
    session = video.session(recording="required")
    path = f"/v1/bookings/{session.id}/join"
    refused = video.http.post(path, headers=video.client(session))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "recording_consent_required"
    assert video.http.post(path, headers=video.specialist(session)).status_code == 200

    consent = video.http.post(
        f"/v1/bookings/{session.id}/recording-consent",
        headers=video.client(session),
        json={"consent": True},
    )
    assert consent.status_code == 200 and consent.json()["recording_consent"] is True
    assert video.http.post(path, headers=video.client(session)).status_code == 200


def test_only_the_client_consents_and_only_where_the_service_records(video: Video) -> None:
    unrecorded, recorded = video.session(), video.session(recording="optional")
    by_specialist = video.http.post(
        f"/v1/bookings/{recorded.id}/recording-consent",
        headers=video.specialist(recorded),
        json={"consent": True},
    )
    assert by_specialist.status_code == 403
    not_recorded = video.http.post(
        f"/v1/bookings/{unrecorded.id}/recording-consent",
        headers=video.client(unrecorded),
        json={"consent": True},
    )
    assert not_recorded.status_code == 409
