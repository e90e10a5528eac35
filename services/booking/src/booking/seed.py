"""Demo data for `make dev`, created through the public API like any operator would.

Run: python -m booking.seed --base-url http://127.0.0.1:8000 (ADMIN_API_KEY from the env).
Seeding twice adds nothing: a demo specialist that exists by name is left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from typing import Any

WEEKDAYS = range(5)

DEMO: list[dict[str, Any]] = [
    {
        "specialist": {
            "name": "Dr. Maya Lindqvist",
            "email": "maya@example.com",
            "timezone": "Europe/Berlin",
            "specialty": "Clinical psychology",
            "bio": "Cognitive behavioural therapy for adults.",
        },
        "weekly": [
            {"day": d, "start": s, "end": e}
            for d in WEEKDAYS
            for s, e in (("09:00", "12:00"), ("13:00", "17:00"))
        ],
        "services": [
            {
                "name": "Initial consultation",
                "duration_minutes": 50,
                "buffer_after_minutes": 10,
                "minimum_notice_minutes": 120,
                "cancellation_hours": 24,
                "price": "90.00",
                "currency": "EUR",
                "questions": [
                    {
                        "key": "reason",
                        "label": "What brings you here?",
                        "type": "textarea",
                        "required": True,
                    }
                ],
            },
            {
                "name": "Follow-up session",
                "duration_minutes": 30,
                "requires_approval": True,
                "max_per_day": 4,
            },
        ],
    },
    {
        "specialist": {
            "name": "Sam Okafor",
            "email": "sam@example.com",
            "timezone": "America/New_York",
            "specialty": "Career coaching",
        },
        "weekly": [{"day": d, "start": "10:00", "end": "18:00"} for d in WEEKDAYS],
        "services": [
            {
                "name": "Coaching call",
                "duration_minutes": 45,
                "slot_interval_minutes": 15,
                "buffer_before_minutes": 5,
                "buffer_after_minutes": 5,
                "price": "120.00",
                "currency": "USD",
                "questions": [
                    {
                        "key": "stage",
                        "label": "Career stage",
                        "type": "select",
                        "required": True,
                        "options": ["student", "early", "mid", "senior"],
                    }
                ],
            },
        ],
    },
]


# Both demo specialists, booked round-robin: whoever of them is free.
DEMO_TEAM: dict[str, Any] = {
    "name": "First-call desk",
    "service": {
        "name": "Intro call (whoever is free)",
        "assignment": "round_robin",
        "duration_minutes": 20,
        "minimum_notice_minutes": 60,
    },
}


def _call(base: str, method: str, path: str, body: Any = None, key: str = "") -> Any:
    request = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


def _every_specialist(base_url: str) -> list[dict[str, Any]]:
    """Every page of GET /v1/specialists."""
    everyone: list[dict[str, Any]] = []
    query = "?limit=200"
    while True:
        page = _call(base_url, "GET", "/v1/specialists" + query)
        everyone += page["specialists"]
        if page["next_cursor"] is None:
            return everyone
        query = f"?limit=200&cursor={page['next_cursor']}"


def seed(base_url: str, admin_key: str) -> list[dict[str, Any]]:
    """Create the demo specialists and services, and the demo team with its service when
    its members are new; returns the specialists and their services afterwards."""
    existing = {s["name"]: s for s in _every_specialist(base_url)}
    created = _specialists(base_url, admin_key, existing)
    if not any(demo["specialist"]["name"] in existing for demo in DEMO):
        _team(base_url, admin_key, [entry["specialist"]["id"] for entry in created])
    return created


def _team(base_url: str, admin_key: str, members: list[str]) -> None:
    team = _call(
        base_url,
        "POST",
        "/v1/teams",
        {"name": DEMO_TEAM["name"], "members": [{"specialist_id": m} for m in members]},
        admin_key,
    )
    service = {"team_id": team["id"], **DEMO_TEAM["service"]}
    created = _call(base_url, "POST", "/v1/services", service, admin_key)
    print(f"team {team['name']}: {team['id']}")
    print(f"  service {created['name']}: {created['id']}")


def _specialists(
    base_url: str, admin_key: str, existing: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    created = []
    for demo in DEMO:
        name = demo["specialist"]["name"]
        if name in existing:
            specialist = existing[name]
            path = f"/v1/services?specialist_id={specialist['id']}"
            created.append(
                {"specialist": specialist, "services": _call(base_url, "GET", path)["services"]}
            )
            continue
        specialist = _call(base_url, "POST", "/v1/specialists", demo["specialist"], admin_key)
        _call(
            base_url,
            "PUT",
            f"/v1/specialists/{specialist['id']}/schedule",
            {"weekly": demo["weekly"]},
            admin_key,
        )
        services = [
            _call(
                base_url,
                "POST",
                "/v1/services",
                {"specialist_id": specialist["id"], **service},
                admin_key,
            )
            for service in demo["services"]
        ]
        created.append({"specialist": specialist, "services": services})
    return created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    for entry in seed(args.base_url, os.environ["ADMIN_API_KEY"]):
        specialist = entry["specialist"]
        print(f"specialist {specialist['name']} ({specialist['timezone']}): {specialist['id']}")
        for service in entry["services"]:
            print(f"  service {service['name']}: {service['id']}")


if __name__ == "__main__":
    main()
