"""What installed packages contribute to Kairos, found through their entry points.

The runtime names no service: a service's package registers what it brings (its ops
commands, its event store as a source for other services' replays) under a group
below, in its pyproject.toml, and whoever needs it looks it up here. The dev tooling
does the same with groups of its own (`kairos.dev_services`).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import TypeVar

#: `kairos` subcommands (kairos.commands.Command); a dotted name is a nested command,
#: e.g. `replay.availability` is `kairos replay availability`.
COMMANDS = "kairos.commands"
#: Where ops commands read settings the environment does not give (a mapping of
#: setting name to value, e.g. the running dev stack's): kairos.commands.SettingsSource.
SETTINGS_SOURCES = "kairos.settings_sources"
#: A service's event store as integration events, named by the topic they are
#: published on (kairos.event_sources.EventSource).
EVENT_SOURCES = "kairos.event_sources"


T = TypeVar("T")


class PluginError(RuntimeError):
    """An entry point is registered twice, or does not load as what its group expects."""


def registered(group: str) -> dict[str, EntryPoint]:
    """The entry points of `group` by name, in name order (not loaded).

    Raises PluginError when two installed packages register the same name: which one
    wins would otherwise depend on the order of sys.path.
    """
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=group):
        if (other := found.get(entry.name)) is not None and other.value != entry.value:
            raise PluginError(
                f"{group}: {entry.name!r} is registered twice, by {_owner(other)} ({other.value})"
                f" and by {_owner(entry)} ({entry.value})"
            )
        found[entry.name] = entry
    return dict(sorted(found.items()))


def _owner(entry: EntryPoint) -> str:
    return entry.dist.name if entry.dist is not None else "an unknown package"


def load(entry: EntryPoint, kind: type[T]) -> T:
    """What `entry` names, checked to be a `kind` (a class, or a runtime-checkable
    Protocol for callables), so a wrong registration fails here, naming itself."""
    loaded = entry.load()
    if not isinstance(loaded, kind):
        raise PluginError(
            f"{entry.group}: {entry.name} = {entry.value} is a {type(loaded).__name__},"
            f" not a {kind.__name__}"
        )
    return loaded
