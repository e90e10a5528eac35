"""Maps (type, version) to payload models, upcasts old versions, and writes JSON Schemas.

A breaking change to an event is a new version: register the new model with
`version=2` and an upcaster from 1 to 2, so consumers keep reading old messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kairos.events.booking import BOOKING_EVENTS
from kairos.events.calendar import CALENDAR_EVENTS
from kairos.events.envelope import Envelope
from kairos.events.payload import Payload
from kairos.events.video import VIDEO_EVENTS

SCHEMA_DIR = Path(__file__).parent / "schemas"

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(ValueError):
    pass


class EventRegistry:
    def __init__(self) -> None:
        self._models: dict[tuple[str, int], type[Payload]] = {}
        self._latest: dict[str, int] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, model: type[Payload], version: int = 1, name: str | None = None) -> None:
        """Register `model` as `version` of the event type `name` (default: the class name)."""
        name = name or model.__name__
        self._models[(name, version)] = model
        self._latest[name] = max(version, self._latest.get(name, 0))

    def register_upcaster(self, name: str, from_version: int, upcaster: Upcaster) -> None:
        self._upcasters[(name, from_version)] = upcaster

    def latest_version(self, name: str) -> int:
        try:
            return self._latest[name]
        except KeyError:
            raise UnknownEventType(f"unknown event type {name!r}") from None

    def decode(self, envelope: Envelope) -> Payload:
        """Validate `envelope.data`, upcasting it to the newest version of its type.

        Raises UnknownEventType or pydantic.ValidationError for a bad message.
        """
        latest = self.latest_version(envelope.type)
        data, version = envelope.data, envelope.version
        if version > latest or (envelope.type, version) not in self._models:
            raise UnknownEventType(f"unknown version {version} of {envelope.type!r}")
        while version < latest:
            upcast = self._upcasters.get((envelope.type, version))
            if upcast is None:
                raise UnknownEventType(f"no upcaster from {envelope.type!r} v{version}")
            data, version = upcast(data), version + 1
        return self._models[(envelope.type, version)].model_validate(data)

    def schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schemas keyed by file name, for every registered version and the envelope."""
        out = {"Envelope.json": Envelope.model_json_schema()}
        for (name, version), model in sorted(self._models.items()):
            out[f"{name}.v{version}.json"] = model.model_json_schema()
        return out


def contract_schemas(*registries: EventRegistry) -> dict[str, dict[str, Any]]:
    """The JSON Schemas of several topics' registries, in one directory: type names are
    unique across the contract, so a clash is a mistake."""
    out: dict[str, dict[str, Any]] = {}
    for registry in registries:
        for filename, schema in registry.schemas().items():
            if out.setdefault(filename, schema) != schema:
                raise ValueError(f"two topics define {filename} differently")
    return out


def write_schemas(*registries: EventRegistry, directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, schema in contract_schemas(*registries).items():
        path = directory / filename
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def _registry_of(models: Iterable[type[Payload]]) -> EventRegistry:
    registry = EventRegistry()
    for model in models:
        registry.register(model)
    return registry


REGISTRY = _registry_of(BOOKING_EVENTS)
"""booking.events.v1"""
CALENDAR_REGISTRY = _registry_of(CALENDAR_EVENTS)
"""calendar.events.v1"""
VIDEO_REGISTRY = _registry_of(VIDEO_EVENTS)
"""video.events.v1"""
