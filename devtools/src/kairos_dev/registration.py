"""How a service joins `kairos dev`: it registers a DevService, and the dev stack and the
gateway take everything they know about it from there.

A service adds a small module, e.g. `video/dev.py`,

    SERVICE = DevService(
        "video",
        routes=(r"/v1/webhooks/livekit(/|$)",),
        processes=(api("video-api", "video.main:app", port=8030),),
    )

and an entry point in its pyproject.toml,

    [project.entry-points."kairos.dev_services"]
    video = "video.dev:SERVICE"

then `make .venv` (which reinstalls the packages: entry points are install metadata).
Nothing in kairos_dev changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from kairos.plugins import PluginError, load, registered

#: The entry point group a service registers its DevService under.
DEV_SERVICES = "kairos.dev_services"

API_HOST = "127.0.0.1"
API_PORT = 8000  # the gateway: the one public origin, as the Ingress is in k8s
API_URL = f"http://{API_HOST}:{API_PORT}"


#: The dev SMTP sink's SMTP port (notifications registers the sink, with its /dev/mail
#: pages), and how every process that sends mail reaches it (kairos.providers.smtp.SmtpSettings).
DEV_SMTP_PORT = 8025
DEV_MAIL_ENV: tuple[tuple[str, str], ...] = (
    ("SMTP_HOST", API_HOST),
    ("SMTP_PORT", str(DEV_SMTP_PORT)),
    ("SMTP_SECURITY", "none"),
    ("MAIL_FROM", "Kairos <no-reply@kairos.localhost>"),
)


def local_url(port: int) -> str:
    return f"http://{API_HOST}:{port}"


#: Booking's API process (booking/dev.py): the other services ask it for manage tokens
#: and their generations (kairos.booking_client), as `BOOKING_API_URL`.
BOOKING_API_PORT = 8010
BOOKING_API_ENV = ("BOOKING_API_URL", local_url(BOOKING_API_PORT))


@dataclass(frozen=True)
class ServiceSpec:
    """One process of the stack, run as `python -m <args>`."""

    name: str
    module: str  # must be importable before anything starts
    args: tuple[str, ...]
    port: int | None = None  # must be free before anything starts
    ready_url: str | None = None  # polled until it answers 200
    env: tuple[tuple[str, str], ...] = ()  # extra environment for this process only
    url: str | None = None  # its own HTTP server, shown in the banner (/metrics, and /docs if api)
    api: bool = False  # serves an API with its OpenAPI docs at /docs


def api(name: str, app: str, port: int) -> ServiceSpec:
    """A service's API: `uvicorn <app>` on `port`; the gateway forwards its routes there."""
    return ServiceSpec(
        name,
        app.partition(":")[0],
        ("uvicorn", app, "--host", API_HOST, "--port", str(port)),
        port=port,
        ready_url=f"{local_url(port)}/readyz",
        url=local_url(port),
        api=True,
    )


def worker(name: str, module: str, port: int, port_env: str) -> ServiceSpec:
    """A worker (`python -m <module>`) serving only ops endpoints, on the port in `port_env`."""
    return ServiceSpec(
        name,
        module,
        (module,),
        port=port,
        ready_url=f"{local_url(port)}/readyz",
        env=((port_env, str(port)),),
        url=local_url(port),
    )


def one_off(name: str, module: str, *args: str) -> ServiceSpec:
    """`python -m <module> <args>`, run to its end once the stack is ready (a demo seed)."""
    return ServiceSpec(name, module, (module, *args))


#: A banner line: its label (blank for a line continuing the one above) and its text.
BannerLine = tuple[str, str]


@dataclass(frozen=True)
class DevService:
    """What one service brings to `kairos dev`."""

    #: The k8s Service name: what the gateway's routes lead to (and GATEWAY_UPSTREAMS names).
    name: str
    #: The public paths (regexes) that are this service's, as the Ingress lists them; the
    #: gateway forwards them to the service's `api` process, or answers 502 without one.
    routes: tuple[str, ...] = ()
    #: Its processes, started with the stack and stopped with it; at most one `api`.
    processes: tuple[ServiceSpec, ...] = ()
    #: Run once every process is ready, through the gateway (a demo seed).
    seed: ServiceSpec | None = None
    #: The topics it publishes, shown in the banner.
    topics: tuple[str, ...] = ()
    #: Services whose events it consumes: started, and shown, before it.
    after: tuple[str, ...] = ()
    #: Extra banner lines (how to try it), given the public origin's URL.
    hints: Callable[[str], Sequence[BannerLine]] | None = None
    #: A dev fake (its /dev pages): not in the merged API reference, nor in the Ingress.
    dev_only: bool = False
    #: `module:attribute` of the APIRouters its `api` serves (those its create_app passes
    #: to kairos.web.service_app): the API reference is built from them without a running
    #: service or database (kairos_dev.api_reference).
    routers: str | None = None

    @property
    def api(self) -> ServiceSpec | None:
        apis = [process for process in self.processes if process.api]
        if len(apis) > 1:
            names = ", ".join(p.name for p in apis)
            raise PluginError(f"{self.name}: one API process per service, not {names}")
        return apis[0] if apis else None


def registered_services() -> list[DevService]:
    """Every installed service's DevService, each after those it names in `after`."""
    return in_start_order(load(e, DevService) for e in registered(DEV_SERVICES).values())


def in_start_order(services: Iterable[DevService]) -> list[DevService]:
    """`services` in name order, except that each comes after those it names in `after`
    (names not among them are ignored: a consumer may run without its producer)."""
    pending = sorted(services, key=lambda service: service.name)
    names = {service.name for service in pending}
    ordered: list[DevService] = []
    while pending:
        placed = {service.name for service in ordered}
        ready = next((s for s in pending if all(n in placed for n in s.after if n in names)), None)
        if ready is None:
            cycle = ", ".join(s.name for s in pending)
            raise PluginError(f"{DEV_SERVICES}: {cycle} each start after another of them")
        ordered.append(ready)
        pending.remove(ready)
    return ordered
