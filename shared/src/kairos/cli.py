"""The `kairos` command: `kairos dev`, `kairos tail TOPIC`, `kairos token SPECIALIST_ID`,
`kairos replay availability`, `kairos republish booking`, `kairos effects parked|redrive`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from aiokafka.errors import KafkaConnectionError

from kairos.auth import JWT_AUDIENCE, JWT_ISSUER, Authenticator, now_utc
from kairos.devstack import SECRET_NAMES, read_state, run_dev
from kairos.effects.commands import add_effects_command
from kairos.infra import KAFKA_BOOTSTRAP_ENV
from kairos.tail import tail


def _setting(name: str) -> str | None:
    """From the environment, else from the running `kairos dev`."""
    return os.environ.get(name) or read_state().get(name)


def _dev(args: argparse.Namespace) -> int:
    return run_dev(fresh=args.fresh)


def _tail(args: argparse.Namespace) -> int:
    bootstrap = args.bootstrap or _setting(KAFKA_BOOTSTRAP_ENV) or "127.0.0.1:9092"
    try:
        asyncio.run(tail(bootstrap, args.topic, out=sys.stdout, max_messages=args.max_messages))
    except KeyboardInterrupt:
        pass
    except KafkaConnectionError:
        print(f"kairos tail: no Kafka broker answers at {bootstrap}", file=sys.stderr)
        return 1
    return 0


def _token(args: argparse.Namespace) -> int:
    found = {name: _setting(name) for name in SECRET_NAMES}
    if missing := [name for name, value in found.items() if not value]:
        print(f"kairos token: {', '.join(missing)} not set; start `kairos dev`", file=sys.stderr)
        return 2
    try:
        specialist_id = UUID(args.specialist_id)
    except ValueError:
        print(f"kairos token: not a specialist id (UUID): {args.specialist_id}", file=sys.stderr)
        return 2
    admin_key, jwt_secret, manage_secret = (found[name] or "" for name in SECRET_NAMES)
    # The services' own settings, when this shell has them; else the services' defaults.
    issuer = _setting("JWT_ISSUER") or JWT_ISSUER
    audience = _setting("JWT_AUDIENCE") or JWT_AUDIENCE
    authenticator = Authenticator(admin_key, jwt_secret, manage_secret, issuer, audience)
    ttl = timedelta(minutes=args.ttl_minutes)
    print(authenticator.specialist_token(specialist_id, now_utc(), ttl))
    return 0


def _replay(args: argparse.Namespace) -> int:
    # Imported here: the ops commands need the services' packages, the others don't.
    from kairos.replay import replay_availability

    database = args.database or _setting("DATABASE_URL")
    source = args.booking_database or _setting("BOOKING_DATABASE_URL") or database
    if not database or not source:
        print("kairos replay: set DATABASE_URL (or start `kairos dev`)", file=sys.stderr)
        return 2
    return replay_availability(database, source, page_size=args.page_size, out=sys.stderr)


def _republish(args: argparse.Namespace) -> int:
    from kairos.replay import republish_booking

    source = args.booking_database or _setting("BOOKING_DATABASE_URL") or _setting("DATABASE_URL")
    bootstrap = args.bootstrap or _setting(KAFKA_BOOTSTRAP_ENV)
    if not source or not bootstrap:
        needed = "DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS"
        print(f"kairos republish: set {needed} (or start `kairos dev`)", file=sys.stderr)
        return 2
    return republish_booking(source, bootstrap, args.topic, args.after, args.until, out=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kairos", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run infrastructure and services in the foreground")
    dev.add_argument("--fresh", action="store_true", help="drop and recreate the kairos_dev db")
    dev.set_defaults(run=_dev)

    tail_cmd = commands.add_parser("tail", help="print a topic's messages from the beginning")
    tail_cmd.add_argument("topic")
    tail_cmd.add_argument(
        "--bootstrap", help=f"default: ${KAFKA_BOOTSTRAP_ENV}, the running kairos dev, :9092"
    )
    tail_cmd.add_argument("--max-messages", type=int, help="exit after this many messages")
    tail_cmd.set_defaults(run=_tail)

    token = commands.add_parser("token", help="mint a specialist JWT for the running stack")
    token.add_argument("specialist_id")
    token.add_argument("--ttl-minutes", type=int, default=12 * 60)
    token.set_defaults(run=_token)

    replay = commands.add_parser(
        "replay",
        help="rebuild a read model from the event store and swap it in while the service runs",
    )
    replay.add_argument("read_model", choices=["availability"])
    replay.add_argument("--database", help="the read model's database (default: $DATABASE_URL)")
    replay.add_argument(
        "--booking-database",
        help="the booking event store (default: $BOOKING_DATABASE_URL, else the read model's)",
    )
    replay.add_argument("--page-size", type=int, default=5000, help="events read per query")
    replay.set_defaults(run=_replay)

    republish = commands.add_parser(
        "republish",
        help="send a range of stored events to Kafka again, for downstream consumers",
    )
    republish.add_argument("producer", choices=["booking"])
    republish.add_argument("--after", type=int, default=0, help="notification id to start after")
    republish.add_argument("--until", type=int, help="last notification id (default: the newest)")
    republish.add_argument("--topic", default="booking.events.v1")
    republish.add_argument(
        "--booking-database", help="default: $BOOKING_DATABASE_URL, $DATABASE_URL"
    )
    republish.add_argument("--bootstrap", help=f"default: ${KAFKA_BOOTSTRAP_ENV}")
    republish.set_defaults(run=_republish)

    add_effects_command(commands, _setting)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
