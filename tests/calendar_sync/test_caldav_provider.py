"""The CalDAV provider against a real server (Radicale), below the reconcile loop: a poll
asks only for the changes since the token the last poll returned, and a server without
sync-collection is polled by its ctag; a server that cannot be reached or does not answer
is a failure worth retrying, and one that asks us to slow down is given the time it asks
for; the busy time read is exactly the range's, whatever the
server makes of all-day events; a booking's event is deleted where it was put, without a
search, and found by its UID where the server named it itself; a connection's calendar
is found once, and found again when it has moved."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

import pytest
from caldav.davclient import DAVClient

from calendar_sync.caldav_calendar import CalDavAccount, CalDavCalendars, open_calendar
from kairos.effects import TransientEffectError
from kairos.providers.calendar import BusyTime, CalendarEvent
from kairos_dev.infra.process import LOCALHOST, free_port
from kairos_dev.infra.radicale import RadicaleHandle
from tests.calendar_sync.test_external_busy import ics

CONNECTION = uuid4()
SYNC_COLLECTION = "sync-collection"


def meeting(uid: str, start: str, end: str) -> str:
    return ics(f"UID:{uid}\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:own meeting")


@dataclass
class Requests:
    """What the provider sent Radicale, and how many events each sync-collection answer
    named."""

    methods: list[str] = field(default_factory=list)
    listed: list[int] = field(default_factory=list)

    def clear(self) -> None:
        self.methods.clear()
        self.listed.clear()


@pytest.fixture
def account(radicale: RadicaleHandle) -> CalDavAccount:
    user = f"p{uuid4().hex[:8]}"
    made = radicale.add_account(user)
    return CalDavAccount(f"{radicale.url}/{user}/kairos/", user, made.password)


@pytest.fixture
def provider(account: CalDavAccount) -> CalDavCalendars:
    return CalDavCalendars(lambda _: account)


Rewrite = Callable[[str, str], tuple[str, str]]


def recording(monkeypatch: pytest.MonkeyPatch, rewrite: Rewrite | None = None) -> Requests:
    """Record the provider's requests; `rewrite` (url, method) → (url, method) changes the
    sync-collection REPORTs before they leave."""
    seen = Requests()
    original = DAVClient.request

    def request(self: DAVClient, url: str, method: str = "GET", *args: Any, **kwargs: Any) -> Any:
        body = args[0] if args else kwargs.get("body", "")
        asks_sync = SYNC_COLLECTION in (body.decode() if isinstance(body, bytes) else str(body))
        if asks_sync and rewrite is not None:
            url, method = rewrite(str(url), method)
        seen.methods.append(method)
        response = original(self, url, method, *args, **kwargs)
        if asks_sync and response.tree is not None:
            seen.listed.append(len(response.tree.findall("{DAV:}response")))
        return response

    monkeypatch.setattr(DAVClient, "request", request)
    return seen


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Requests]:
    yield recording(monkeypatch)


def test_a_poll_asks_only_for_the_changes_since_the_last_token(
    provider: CalDavCalendars, account: CalDavAccount, sent: Requests
) -> None:
    calendar = open_calendar(account)
    for day in range(10, 30):
        calendar.save_event(ical=meeting(f"m{day}", f"202603{day}T090000Z", f"202603{day}T100000Z"))
    sent.clear()
    first = provider.sync_token(CONNECTION, None)
    assert first is not None and sent.listed == [20]

    sent.clear()
    assert provider.sync_token(CONNECTION, first) == first
    assert sent.listed == [0]

    calendar.save_event(ical=meeting("new", "20260331T090000Z", "20260331T100000Z"))
    sent.clear()
    changed = provider.sync_token(CONNECTION, first)
    assert changed not in (None, first)
    assert sent.listed == [1]
    sent.clear()
    assert provider.sync_token(CONNECTION, changed) == changed
    assert sent.listed == [0]


@pytest.mark.parametrize(
    "previous",
    [f"http://radicale.org/ns/sync/{'0' * 64}", "fake-0123456789abcdef"],
    ids=["forgotten by the server", "caldav's stand-in, stored before"],
)
def test_a_token_the_server_does_not_know_starts_over(
    provider: CalDavCalendars, account: CalDavAccount, previous: str
) -> None:
    open_calendar(account).save_event(ical=meeting("m", "20260309T090000Z", "20260309T100000Z"))
    current = provider.sync_token(CONNECTION, None)
    assert current is not None and current.startswith("http://radicale.org/ns/sync/")
    assert provider.sync_token(CONNECTION, previous) == current


def _principal(url: str, method: str) -> tuple[str, str]:
    return url.rstrip("/").rsplit("/", 1)[0] + "/", method


def _unknown_method(url: str, method: str) -> tuple[str, str]:
    return url, "XREPORT"


@pytest.mark.parametrize(
    "refuse",
    [_unknown_method, _principal],
    ids=["refused with an error status", "refused naming DAV:supported-report"],
)
def test_a_server_without_sync_collection_is_polled_by_its_ctag(
    provider: CalDavCalendars,
    account: CalDavAccount,
    monkeypatch: pytest.MonkeyPatch,
    refuse: Rewrite,
) -> None:
    """Radicale plays a server without sync-collection: its sync-collection REPORTs go where
    Radicale refuses them (as an unknown method: 405; on the principal: a 403 naming
    DAV:supported-report)."""
    sent = recording(monkeypatch, refuse)
    calendar = open_calendar(account)
    first = provider.sync_token(CONNECTION, None)
    assert first is not None and first.startswith("ctag:")

    sent.clear()
    assert provider.sync_token(CONNECTION, first) == first
    calendar.save_event(ical=meeting("m", "20260309T090000Z", "20260309T100000Z"))
    changed = provider.sync_token(CONNECTION, first)
    assert changed is not None and changed.startswith("ctag:") and changed != first
    assert provider.sync_token(CONNECTION, changed) == changed
    assert sent.listed == [] and "REPORT" not in sent.methods and "XREPORT" not in sent.methods


def test_a_server_that_refuses_connections_is_a_failure_worth_retrying() -> None:
    nowhere = CalDavAccount(f"http://{LOCALHOST}:{free_port()}/p/kairos/", "p", "secret")
    provider = CalDavCalendars(lambda _: nowhere)
    with pytest.raises(TransientEffectError):
        provider.busy(CONNECTION, datetime(2026, 3, 9, tzinfo=UTC), datetime.now(UTC), "UTC")
    with pytest.raises(TransientEffectError):
        provider.sync_token(CONNECTION, None)


def test_a_server_that_does_not_answer_in_time_is_a_failure_worth_retrying() -> None:
    with socket.create_server((LOCALHOST, 0)) as silent:  # accepts, never answers
        port = silent.getsockname()[1]
        account = CalDavAccount(f"http://{LOCALHOST}:{port}/p/kairos/", "p", "secret")
        with pytest.raises(TransientEffectError):
            open_calendar(account, timeout=1)


@contextmanager
def answering(status: int, retry_after: str) -> Iterator[str]:
    """A server that answers every request `status` with this Retry-After: its URL."""

    class Busy(BaseHTTPRequestHandler):
        def handle_one_request(self) -> None:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.parse_request():
                return
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with ThreadingHTTPServer((LOCALHOST, 0), Busy) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://{LOCALHOST}:{server.server_address[1]}/p/kairos/"
        finally:
            server.shutdown()


@pytest.mark.parametrize("status", [429, 503])
def test_a_server_that_asks_to_slow_down_is_tried_again_no_sooner_than_it_asks(
    status: int,
) -> None:
    with answering(status, "120") as url:
        provider = CalDavCalendars(lambda _: CalDavAccount(url, "p", "secret"))
        with pytest.raises(TransientEffectError) as raised:
            provider.sync_token(CONNECTION, None)
    assert raised.value.retry_after == timedelta(seconds=120)


def test_the_busy_time_read_is_the_ranges_exactly(
    provider: CalDavCalendars, account: CalDavAccount
) -> None:
    """The server reads an all-day event's date as UTC, so the range it is asked for is a
    day wider, and the busy time is cut to the range here: the specialist's local day
    (UTC+14) that starts the UTC day before the server's is found, and found once; meetings
    that only touch the range are not."""
    calendar = open_calendar(account)
    day_off = "UID:off\r\nDTSTART;VALUE=DATE:20260310\r\nDTEND;VALUE=DATE:20260311\r\nSUMMARY:off"
    calendar.save_event(ical=ics(day_off))
    calendar.save_event(ical=meeting("across", "20260308T233000Z", "20260309T003000Z"))
    calendar.save_event(ical=meeting("before", "20260308T230000Z", "20260309T000000Z"))
    calendar.save_event(ical=meeting("after", "20260310T000000Z", "20260310T010000Z"))

    start, end = datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
    assert provider.busy(CONNECTION, start, end, "Pacific/Kiritimati") == [
        BusyTime(datetime(2026, 3, 8, 23, 30, tzinfo=UTC), datetime(2026, 3, 9, 0, 30, tzinfo=UTC)),
        BusyTime(datetime(2026, 3, 9, 10, tzinfo=UTC), datetime(2026, 3, 10, 10, tzinfo=UTC)),
    ]


def booked(uid: str) -> CalendarEvent:
    return CalendarEvent(
        uid=uid,
        title="Session with Ada",
        starts_at=datetime(2026, 3, 9, 9, tzinfo=UTC),
        ends_at=datetime(2026, 3, 9, 10, tzinfo=UTC),
        time_zone="Europe/Berlin",
    )


def uids(account: CalDavAccount) -> set[str]:
    return {str(event.icalendar_component["UID"]) for event in open_calendar(account).events()}


def test_a_booking_is_deleted_where_it_was_put_without_a_search(
    provider: CalDavCalendars, account: CalDavAccount, sent: Requests
) -> None:
    provider.put_event(CONNECTION, booked("kairos0booked"), idempotency_key="put")
    provider.put_event(CONNECTION, booked("kairos0kept"), idempotency_key="put-kept")
    sent.clear()

    provider.delete_event(CONNECTION, "kairos0booked", idempotency_key="delete")

    assert sent.methods.count("DELETE") == 1
    assert "REPORT" not in sent.methods  # no calendar-query for the UID
    assert uids(account) == {"kairos0kept"}


def test_an_event_the_server_named_itself_is_found_by_its_uid_and_deleted(
    provider: CalDavCalendars, account: CalDavAccount
) -> None:
    calendar = open_calendar(account)
    named = calendar.url.join("named-by-the-server.ics")
    calendar.client.put(str(named), meeting("kairos0named", "20260309T090000Z", "20260309T100000Z"))
    assert uids(account) == {"kairos0named"}

    provider.delete_event(CONNECTION, "kairos0named", idempotency_key="delete")

    assert uids(account) == set()
    # Gone already (a repeated effect): not an error.
    provider.delete_event(CONNECTION, "kairos0named", idempotency_key="delete")


def test_a_connections_calendar_is_found_once_not_before_every_request(
    provider: CalDavCalendars, sent: Requests
) -> None:
    provider.put_event(CONNECTION, booked("kairos0first"), idempotency_key="1")
    assert sent.methods.count("PROPFIND") >= 2  # the principal, then its calendars
    sent.clear()

    provider.put_event(CONNECTION, booked("kairos0second"), idempotency_key="2")
    provider.delete_event(CONNECTION, "kairos0first", idempotency_key="3")

    assert sent.methods == ["PUT", "DELETE"]


def test_a_calendar_that_moved_is_found_again_after_the_request_that_missed_it(
    radicale: RadicaleHandle,
) -> None:
    user = f"m{uuid4().hex[:8]}"
    made = radicale.add_account(user)
    home = CalDavAccount(f"{radicale.url}/{user}/", user, made.password)  # its first calendar
    provider = CalDavCalendars(lambda _: home)
    provider.put_event(CONNECTION, booked("kairos0before"), idempotency_key="1")

    # The owner replaces the calendar with another, at another address.
    old = open_calendar(home)
    principal = old.client.principal()
    old.delete()
    principal.make_calendar(name="Work", cal_id="work")

    with pytest.raises(TransientEffectError):
        provider.put_event(CONNECTION, booked("kairos0missed"), idempotency_key="2")
    provider.put_event(CONNECTION, booked("kairos0after"), idempotency_key="2")

    moved = open_calendar(home)
    assert str(moved.url).rstrip("/").endswith("/work")
    assert uids(home) == {"kairos0after"}
