"""The dev tooling's `kairos` commands: `kairos dev` and `kairos token SPECIALIST_ID`
(registered in devtools/pyproject.toml, so production images, without this package,
have neither)."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from uuid import UUID

from kairos.auth import JWT_AUDIENCE, JWT_ISSUER, Authenticator, now_utc
from kairos.commands import Command, setting
from kairos_dev.devstack import SECRET_NAMES, run_dev


def _dev_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the kairos_dev db")


def _dev(args: argparse.Namespace) -> int:
    return run_dev(fresh=args.fresh)


def _token_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specialist_id")
    parser.add_argument("--ttl-minutes", type=int, default=12 * 60)


def _token(args: argparse.Namespace) -> int:
    found = {name: setting(name) for name in SECRET_NAMES}
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
    issuer = setting("JWT_ISSUER") or JWT_ISSUER
    audience = setting("JWT_AUDIENCE") or JWT_AUDIENCE
    authenticator = Authenticator(admin_key, jwt_secret, manage_secret, issuer, audience)
    ttl = timedelta(minutes=args.ttl_minutes)
    print(authenticator.specialist_token(specialist_id, now_utc(), ttl))
    return 0


DEV_COMMAND = Command("run infrastructure and services in the foreground", _dev, _dev_arguments)
TOKEN_COMMAND = Command("mint a specialist JWT for the running stack", _token, _token_arguments)
