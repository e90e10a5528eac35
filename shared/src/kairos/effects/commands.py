"""`kairos effects parked` and `kairos effects redrive`: the operator's side of parking."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg

from kairos.commands import Command, setting
from kairos.effects.store import parked_effects, redrive
from kairos.settings import DATABASE_URL_ENV


def _parked_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=100)
    _database_option(parser)


def _redrive_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", default=[], type=UUID, metavar="ID")
    which.add_argument("--all", action="store_true", help="every parked effect")
    _database_option(parser)


def _database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", help="the consumer's database (default: $DATABASE_URL)")


def _with_database(
    args: argparse.Namespace, action: Callable[[psycopg.Connection[Any]], int]
) -> int:
    database = args.database or setting(DATABASE_URL_ENV)
    if not database:
        print("kairos effects: set DATABASE_URL (or start `kairos dev`)", file=sys.stderr)
        return 2
    try:
        with psycopg.connect(database) as conn:
            return action(conn)
    except psycopg.errors.UndefinedTable:
        print("kairos effects: that database has no effects table", file=sys.stderr)
        return 2


def _list(args: argparse.Namespace) -> int:
    def list_parked(conn: psycopg.Connection[Any]) -> int:
        effects = parked_effects(conn, args.limit)
        for effect in effects:
            error = effect.last_error.splitlines()[0] if effect.last_error else ""
            print(f"{effect.id}\t{effect.kind}\t{effect.reason}\t{effect.attempts}\t{error}")
        print(f"{len(effects)} parked", file=sys.stderr)
        return 0

    return _with_database(args, list_parked)


def _redrive(args: argparse.Namespace) -> int:
    def redrive_parked(conn: psycopg.Connection[Any]) -> int:
        done = redrive(conn, None if args.all else args.ids)
        for effect_id in done:
            print(effect_id)
        missing = set() if args.all else set(args.ids) - set(done)
        for effect_id in sorted(missing, key=str):
            print(f"kairos effects: {effect_id} is not parked", file=sys.stderr)
        print(f"{len(done)} re-driven", file=sys.stderr)
        return 1 if missing else 0

    return _with_database(args, redrive_parked)


PARKED_COMMAND = Command("list parked effects with their last error", _list, _parked_arguments)
REDRIVE_COMMAND = Command("make parked effects due again", _redrive, _redrive_arguments)
