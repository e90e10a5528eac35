"""The pieces of the `kairos` command: a Command is what a package registers (entry point
group `kairos.commands`), and `setting` is where the commands read their settings.

A package registers a command in its pyproject.toml, e.g. availability's

    [project.entry-points."kairos.commands"]
    "replay.availability" = "availability.replay:REPLAY_COMMAND"

and `kairos replay availability ...` runs it. Settings come from the environment (as
in a production pod), else from a registered settings source: the dev tooling
registers the running `kairos dev`'s, so the commands work against it from any shell.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kairos.plugins import SETTINGS_SOURCES, load, registered
from kairos.settings import KAFKA_PARTITIONS_ENV, TOPIC_MANAGEMENT_ENV, TopicSettings


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command without options or positional arguments."""


@dataclass(frozen=True)
class Command:
    """One `kairos` subcommand: its one-line help, its arguments, and what it runs
    (returning the exit code)."""

    help: str
    run: Callable[[argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments


@runtime_checkable
class SettingsSource(Protocol):
    """Settings by their environment variable's name (empty when it has none)."""

    def __call__(self) -> Mapping[str, str]: ...


def setting(name: str) -> str | None:
    """The setting `name` (its environment variable's name): from the environment, else
    from the first registered source that has it (the running `kairos dev`)."""
    if value := os.environ.get(name):
        return value
    for entry in registered(SETTINGS_SOURCES).values():
        source = load(entry, SettingsSource)  # type: ignore[type-abstract]
        if value := source().get(name):
            return value
    return None


def topic_settings() -> TopicSettings:
    """KAFKA_PARTITIONS and KAFKA_TOPIC_MANAGEMENT as the services see them."""
    names = (KAFKA_PARTITIONS_ENV, TOPIC_MANAGEMENT_ENV)
    return TopicSettings.model_validate(
        {name.lower(): value for name in names if (value := setting(name)) is not None}
    )
