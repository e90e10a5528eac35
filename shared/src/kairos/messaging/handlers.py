"""Typed handler tables: the event class a handler is registered for is its parameter's type.

    handlers = Handlers()

    @handlers.on
    def on_booking_confirmed(conn: Connection, envelope: Envelope, event: BookingConfirmed) -> None:
        ...

`on` reads the event class from the annotation of the handler's third parameter,
so the registration and the parameter cannot disagree; `register(BookingConfirmed,
handler)` says it explicitly, and mypy rejects a handler whose parameter is not
that class or a base of it. A `Handlers` is the mapping `EventConsumer` takes.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeAlias, TypeVar

import psycopg

from kairos.events import Envelope
from kairos.events.booking import Payload

E = TypeVar("E", bound=Payload)

#: A handler of events of class E: applies one inside the consumer's transaction (it
#: must not commit), recording its state changes and effects on `conn`.
TypedHandler: TypeAlias = Callable[[psycopg.Connection[Any], Envelope, E], None]

#: A handler as the consumer calls it, whatever the class it was registered for.
Handler: TypeAlias = Callable[[psycopg.Connection[Any], Envelope, Any], None]


class Handlers(Mapping[type[Payload], Handler]):
    """Event class → handler; the consumer looks a payload up along its class hierarchy,
    so a handler registered for a base class receives its subclasses too."""

    def __init__(self) -> None:
        self._by_event: dict[type[Payload], Handler] = {}

    def register(self, event: type[E], handler: TypedHandler[E]) -> None:
        self._add(event, handler)

    def on(self, handler: TypedHandler[E]) -> TypedHandler[E]:
        """Decorator: register `handler` for the class(es) its event parameter is annotated
        with (a union registers it for each)."""
        for event in event_classes(handler):
            # The annotation is the class: they cannot disagree, whatever mypy can prove.
            self._add(event, handler)
        return handler

    def _add(self, event: type[Payload], handler: Handler) -> None:
        if event in self._by_event:
            raise ValueError(f"{event.__name__} already has a handler")
        self._by_event[event] = handler

    def __getitem__(self, event: type[Payload]) -> Handler:
        return self._by_event[event]

    def __iter__(self) -> Iterator[type[Payload]]:
        return iter(self._by_event)

    def __len__(self) -> int:
        return len(self._by_event)


def event_classes(handler: Callable[..., None]) -> tuple[type[Payload], ...]:
    """The event classes the third parameter of `handler` is annotated with."""
    name = getattr(handler, "__name__", repr(handler))
    parameters = list(inspect.signature(handler).parameters.values())
    if len(parameters) != 3:
        raise TypeError(
            f"{name} must take (conn, envelope, event), not {len(parameters)} arguments"
        )
    try:
        hints = typing.get_type_hints(handler)
    except NameError as exc:
        raise TypeError(
            f"cannot resolve the annotations of {name} ({exc}): register it with "
            "handlers.register(EventClass, handler)"
        ) from exc
    annotation = hints.get(parameters[2].name)
    members = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    if not members or not all(_is_event_class(m) for m in members):
        raise TypeError(
            f"the event parameter of {name} must be annotated with event classes, "
            f"not {annotation!r}"
        )
    return tuple(members)


def _is_event_class(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Payload)
