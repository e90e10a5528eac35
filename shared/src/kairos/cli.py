"""The `kairos` command. Its subcommands are whatever the installed packages register
(entry point group `kairos.commands`, see kairos.commands): this library brings the
generic ops (`tail`, `effects`), each service its own (`replay availability`,
`republish booking`), and the dev tooling `dev` and `token`. `kairos --help` lists
those of this installation."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from kairos.commands import Command
from kairos.plugins import COMMANDS, load, registered

# The verbs several packages add a subcommand to (`kairos replay <read model>`): their
# help, as no one package owns them. A verb not listed here shows without one.
GROUPS = {
    "replay": "rebuild a read model from the event store and swap it in while the service runs",
    "republish": "send a range of stored events to Kafka again, for downstream consumers",
    "effects": "list and re-drive parked effects",
}


def parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    """The parser of `commands` by dotted name (`replay.availability`: a nested one)."""
    root = argparse.ArgumentParser(prog="kairos", description=__doc__)
    # Each level's subparsers, by the path of words that leads to it.
    levels: dict[tuple[str, ...], Any] = {
        (): root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    }
    for name, command in commands.items():
        *path, leaf = name.split(".")
        for depth in range(1, len(path) + 1):
            if tuple(path[:depth]) not in levels:
                above = levels[tuple(path[: depth - 1])]
                group = above.add_parser(path[depth - 1], help=GROUPS.get(path[depth - 1]))
                levels[tuple(path[:depth])] = group.add_subparsers(
                    dest="_".join(path[:depth]), required=True, metavar="COMMAND"
                )
        subcommand = levels[tuple(path)].add_parser(leaf, help=command.help)
        command.arguments(subcommand)
        subcommand.set_defaults(run=command.run)
    return root


def installed_commands() -> dict[str, Command]:
    """The commands the installed packages register, by dotted name."""
    return {name: load(entry, Command) for name, entry in registered(COMMANDS).items()}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser(installed_commands()).parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
