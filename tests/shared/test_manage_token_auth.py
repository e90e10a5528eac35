"""kairos.auth's manage tokens: they name their booking and generation, so a genuine one
proves its holder wherever it is presented, while a forged, garbled or revoked one
proves no one (the HTTP answers, 401 and 403, are in tests/booking and tests/video)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest

from kairos.auth import Authenticator, Caller, ManageTokenClaim
from kairos_dev.testing.services import TEST_SECRETS

pytestmark = pytest.mark.unit


def _auth(manage_secret: str = TEST_SECRETS["MANAGE_TOKEN_SECRET"]) -> Authenticator:
    return Authenticator(TEST_SECRETS["ADMIN_API_KEY"], TEST_SECRETS["JWT_SECRET"], manage_secret)


class Generations:
    """A booking service's generation table, counting how often it is asked."""

    def __init__(self, current: dict[UUID, int]) -> None:
        self.current = current
        self.asked: list[UUID] = []

    def __call__(self, booking_id: UUID) -> int | None:
        self.asked.append(booking_id)
        return self.current.get(booking_id)


def test_a_genuine_token_proves_the_holder_of_the_booking_it_names() -> None:
    booking_id = uuid4()
    token = _auth().manage_token(booking_id, 3)

    assert ManageTokenClaim.of(token) == ManageTokenClaim(booking_id, 3)
    caller = _auth().caller(f"Bearer {token}", Generations({booking_id: 3}))
    assert caller == Caller("client", booking_id=booking_id)
    assert caller.holds_token_for(booking_id) and not caller.holds_token_for(uuid4())


def test_forged_garbled_and_revoked_tokens_prove_no_one() -> None:
    booking_id, other_id = uuid4(), uuid4()
    generations = Generations({booking_id: 1, other_id: 0})
    token = _auth().manage_token(booking_id, 1)
    named, generation, _ = token.split(".")
    *_, others_mac = _auth().manage_token(other_id).split(".")
    forged = [
        _auth("another-manage-token-secret-" + "x" * 32).manage_token(booking_id, 1),
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        f"{named}.{generation}.{others_mac}",
        f"{named}.2.{token.split('.')[2]}",
        "garbage",
        "",
    ]

    for credential in forged:
        assert _auth().caller(f"Bearer {credential}", generations) is None, credential
    # A MAC that does not check out costs no look-up of the generation.
    assert generations.asked == []
    revoked = _auth().manage_token(booking_id, 0)
    assert _auth().caller(f"Bearer {revoked}", generations) is None
    unknown = _auth().manage_token(uuid4())
    assert _auth().caller(f"Bearer {unknown}", generations) is None


def test_without_a_generation_look_up_a_manage_token_proves_no_one() -> None:
    # A service that cannot tell revoked tokens (calendar-sync) accepts none.
    token = _auth().manage_token(uuid4())
    assert _auth().caller(f"Bearer {token}") is None


def test_a_specialist_jwt_is_never_taken_for_a_manage_token() -> None:
    jwt = _auth().specialist_token(uuid4(), datetime.now(UTC))
    assert ManageTokenClaim.of(jwt) is None
    caller = _auth().caller(f"Bearer {jwt}", Generations({}))
    assert caller is not None and caller.role == "specialist"
