"""What every request handler of the webhooks API reads: the context main.py builds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from psycopg_pool import ConnectionPool

from kairos.auth import Authenticator
from kairos.privacy.sealed_store import SealedStore
from webhooks.targets import TargetPolicy


@dataclass
class WebhooksContext:
    pool: ConnectionPool[Any]
    secrets: SealedStore
    policy: TargetPolicy
    auth: Authenticator
    clock: Callable[[], datetime]


def _context(request: Request) -> WebhooksContext:
    ctx: WebhooksContext = request.app.state.webhooks
    return ctx


Ctx = Annotated[WebhooksContext, Depends(_context)]
