"""A webhook receiver that keeps every delivery it gets, and shows them over HTTP.

    python -m kairos_dev.fakes.webhook_sink --port 8062

- `POST /dev/webhooks/in` (or any path below it): a receiver endpoint; subscribe it
  (`http://127.0.0.1:8062/dev/webhooks/in`) and it answers what `answer` says (200).
- `GET /dev/webhooks/messages`: `{messages: [{id, received_at, path, delivery, signature,
  type, body}]}`, newest first; `DELETE` empties it.
- `PUT /dev/webhooks/answer` `{"status": 503}`: answer that from now on (watch the
  retries in the delivery log), `{"status": 200}` to recover.
- `GET /dev/webhooks`: a page listing them.

It checks no signature: it cannot know the secret. docs/webhooks.md shows the check a
real receiver makes.
"""

from __future__ import annotations

import html
import itertools
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from kairos_dev.fakes.recorded import Recorded
from kairos_dev.fakes.server import app_with_health, arguments, message_routes, serve

PREFIX = "/dev/webhooks"
DEV_PORT = 8062


@dataclass(frozen=True)
class ReceivedDelivery:
    id: int
    path: str
    delivery: str | None
    signature: str | None
    body: bytes
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def event(self) -> dict[str, Any]:
        try:
            parsed = json.loads(self.body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "received_at": self.received_at.isoformat(),
            "path": self.path,
            "delivery": self.delivery,
            "signature": self.signature,
            "type": self.event().get("type"),
            "body": self.body.decode(errors="replace"),
        }


class Answer(BaseModel):
    status: int = Field(ge=200, le=599)


class WebhookSink:
    """What the sink received, and what it answers."""

    def __init__(self) -> None:
        self.received: Recorded[ReceivedDelivery] = Recorded()
        self.status = 200
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def receive(self, path: str, headers: Any, body: bytes) -> int:
        with self._lock:
            id_ = next(self._ids)
        self.received.add(
            ReceivedDelivery(
                id_, path, headers.get("kairos-delivery"), headers.get("kairos-signature"), body
            )
        )
        return self.status


def create_app(sink: WebhookSink | None = None) -> FastAPI:
    sink = sink or WebhookSink()
    app = app_with_health("Kairos dev webhook sink")
    app.state.sink = sink
    message_routes(app, f"{PREFIX}/messages", sink.received)

    @app.post(f"{PREFIX}/in")
    @app.post(PREFIX + "/in/{rest:path}")
    async def receive(request: Request) -> Response:
        status = sink.receive(request.url.path, request.headers, await request.body())
        return Response(status_code=status)

    @app.put(f"{PREFIX}/answer")
    def answer(body: Answer) -> Answer:
        sink.status = body.status
        return body

    @app.get(PREFIX, response_class=HTMLResponse)
    def page() -> HTMLResponse:
        return HTMLResponse(_list_page(sink.received.newest_first(), sink.status))

    return app


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:24px;color:#1c1917}"
    "table{border-collapse:collapse;width:100%}td,th{padding:6px 8px;border-bottom:1px solid #ddd;"
    "text-align:left;vertical-align:top}pre{white-space:pre-wrap;margin:0;font-size:12px}"
)


def _list_page(received: list[ReceivedDelivery], status: int) -> str:
    rows = "".join(
        f"<tr><td>{r.received_at:%H:%M:%S.%f}</td><td>{html.escape(str(r.event().get('type')))}"
        f"</td><td>{html.escape(r.delivery or '')}</td>"
        f"<td><details><summary>body</summary><pre>{html.escape(_pretty(r.body))}</pre>"
        f"<pre>Kairos-Signature: {html.escape(r.signature or '')}</pre></details></td></tr>"
        for r in received
    )
    table = (
        "<table><tr><th>Received</th><th>Type</th><th>Kairos-Delivery</th><th></th></tr>"
        f"{rows}</table>"
        if received
        else f"<p>No delivery yet. Subscribe <code>http://127.0.0.1:{DEV_PORT}{PREFIX}/in</code>.</p>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Dev webhooks</title>'
        f"<style>{_STYLE}</style></head><body><h1>Dev webhooks ({len(received)})</h1>"
        f"<p>Answering {status}.</p>{table}</body></html>"
    )


def _pretty(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2)
    except ValueError:
        return body.decode(errors="replace")


def main() -> None:
    options = arguments(
        "A webhook receiver that shows what it received at /dev/webhooks"
    ).parse_args()
    serve(create_app(), options.host, options.port)


if __name__ == "__main__":
    main()
