"""Typed handler tables: a handler is registered for the class its event parameter is
annotated with, and mypy rejects a registration that disagrees with the parameter."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mypy import api as mypy

from kairos.events import Envelope
from kairos.events.booking import (
    BookingCancelled,
    BookingConfirmed,
    BookingTimes,
    Payload,
    SlotRequested,
)
from kairos.messaging import Handlers
from tests.shared.effects_fakes import ROOT

Conn = psycopg.Connection[Any]


def on_confirmed(conn: Conn, envelope: Envelope, event: BookingConfirmed) -> None: ...


def on_ended(
    conn: Conn, envelope: Envelope, event: BookingCancelled | BookingConfirmed
) -> None: ...


def on_times(conn: Conn, envelope: Envelope, event: BookingTimes) -> None: ...


def test_on_registers_a_handler_for_the_class_its_event_parameter_is_annotated_with() -> None:
    handlers = Handlers()
    assert handlers.on(on_confirmed) is on_confirmed
    handlers.on(on_times)
    assert dict(handlers) == {BookingConfirmed: on_confirmed, BookingTimes: on_times}


def test_a_union_annotation_registers_the_handler_for_each_class() -> None:
    handlers = Handlers()
    handlers.on(on_ended)
    assert dict(handlers) == {BookingCancelled: on_ended, BookingConfirmed: on_ended}


def test_register_names_the_class_explicitly() -> None:
    handlers = Handlers()
    handlers.register(SlotRequested, on_times)  # a handler of a base class takes subclasses
    assert dict(handlers) == {SlotRequested: on_times}


def test_an_event_class_has_one_handler() -> None:
    handlers = Handlers()
    handlers.on(on_confirmed)
    with pytest.raises(ValueError, match="BookingConfirmed already has a handler"):
        handlers.on(on_ended)


def test_a_handler_whose_event_parameter_is_not_an_event_class_is_refused() -> None:
    def untyped(conn, envelope, event):  # type: ignore[no-untyped-def]
        pass

    def on_text(conn: Conn, envelope: Envelope, event: str) -> None: ...

    def two(conn: Conn, event: Payload) -> None: ...

    handlers = Handlers()
    with pytest.raises(TypeError, match="must be annotated with event classes"):
        handlers.on(untyped)
    with pytest.raises(TypeError, match="must be annotated with event classes"):
        handlers.on(on_text)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"must take \(conn, envelope, event\)"):
        handlers.on(two)  # type: ignore[arg-type]
    assert len(handlers) == 0


USAGE = """
from typing import Any

import psycopg

from kairos.events import Envelope
from kairos.events.booking import BookingCancelled, BookingConfirmed, Payload
from kairos.messaging import Handlers

Conn = psycopg.Connection[Any]
handlers = Handlers()


@handlers.on
def on_confirmed(conn: Conn, envelope: Envelope, event: BookingConfirmed) -> None:
    {body}


def on_any(conn: Conn, envelope: Envelope, event: Payload) -> None: ...


def on_cancelled(conn: Conn, envelope: Envelope, event: BookingCancelled) -> None: ...


handlers.register(BookingConfirmed, on_any)
{registration}
"""


def type_check(tmp_path: Path, body: str = "...", registration: str = "") -> tuple[str, int]:
    source = tmp_path / "usage.py"
    source.write_text(textwrap.dedent(USAGE).format(body=body, registration=registration))
    stdout, _, status = mypy.run(["--config-file", str(ROOT / "pyproject.toml"), str(source)])
    return stdout, status


@pytest.mark.slow
def test_mypy_accepts_handlers_typed_by_their_event_and_rejects_a_mismatch(
    tmp_path: Path,
) -> None:
    output, status = type_check(tmp_path, body="print(event.booking_id)")
    assert status == 0, output

    output, status = type_check(
        tmp_path, registration="handlers.register(BookingConfirmed, on_cancelled)"
    )
    assert status == 1
    assert 'Argument 2 to "register" of "Handlers" has incompatible type' in output

    # The event parameter's type is what the handler's body is checked against.
    output, status = type_check(tmp_path, body="print(event.starts_at)")
    assert status == 1
    assert '"BookingConfirmed" has no attribute "starts_at"' in output
