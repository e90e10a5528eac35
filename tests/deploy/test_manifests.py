"""The Kubernetes manifests in deploy/k8s and the Dockerfile.

Static checks: the files parse, every kustomization names files that exist,
every workload is probed, sized and hardened, secrets are referenced and never
defined, and the Ingress sends each public path to the service that owns it.
Where kustomize (or kubectl) is installed, the overlays are also built and
their output checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from kairos.events import dead_letter_topic
from kairos.messaging.heartbeat import HEARTBEAT_PARTITIONS, heartbeat_topic
from kairos_dev.gateway import Router
from kairos_dev.registration import registered_services
from kairos_dev.web_app import WebApp

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
INFRA = K8S / "infra"

Doc = dict[str, Any]

SERVICES = ["booking", "availability", "notifications", "calendar-sync", "video"]
# Components without an API of their own: ops endpoints only, no Service.
WORKERS = [
    "booking-relay",
    "booking-video-sessions",
    "availability-projector",
    "availability-calendar-busy",
    "booking-calendar",
    "calendar-sync-relay",
    "calendar-sync-consumer",
    "calendar-sync-poller",
    "video-relay",
    "video-consumer",
    "video-reconcile",
    "notifications-worker",
]
# The web app's static-file server: no API, database, secrets or /metrics.
STATIC = ["web"]
SECRET_KEYS = {"ADMIN_API_KEY", "JWT_SECRET", "MANAGE_TOKEN_SECRET"}
PRIVACY_KEYS = {"PRIVACY_MASTER_KEY", "PRIVACY_INDEX_KEY"}
# The keys of kairos-secrets each component uses, and so is given: booking and video
# authenticate every kind of caller (video admits specialists and clients to their rooms,
# and admins to read sessions); video seals notes under the client's key (the privacy
# keys) and signs recording links, and its consumer takes part in erasures; calendar-sync
# authenticates every kind of caller, reveals clients' names (privacy keys) and seals
# provider credentials at rest; the rest authenticate nobody.
CALENDAR_SYNC_SECRETS = (
    SECRET_KEYS
    | PRIVACY_KEYS
    | {
        "CALENDAR_CREDENTIAL_KEYS",
        "CALENDAR_OAUTH_STATE_KEY",
    }
)
SECRETS_USED = {
    "booking": SECRET_KEYS | {"PRIVACY_MASTER_KEY", "PRIVACY_INDEX_KEY"},
    "booking-relay": set(),
    "booking-video-sessions": set(),
    "availability": set(),
    "availability-projector": set(),
    "calendar-sync": CALENDAR_SYNC_SECRETS,
    "calendar-sync-relay": set(),
    "calendar-sync-consumer": CALENDAR_SYNC_SECRETS,
    "calendar-sync-poller": CALENDAR_SYNC_SECRETS,
    "booking-calendar": set(),
    "availability-calendar-busy": set(),
    "video": SECRET_KEYS | PRIVACY_KEYS | {"RECORDING_LINK_SECRET"},
    "video-relay": set(),
    "video-consumer": PRIVACY_KEYS,
    "video-reconcile": set(),
    # notifications authenticates every kind of caller of its API (invite.ics, push) and
    # opens contact details with the key store's keys; its worker only the latter (and the
    # admin key, which it calls booking with for a manage link's token).
    "notifications": SECRET_KEYS | PRIVACY_KEYS,
    "notifications-worker": SECRET_KEYS | PRIVACY_KEYS,
    "web": set(),
}


def load(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def load_dir(directory: Path) -> list[Doc]:
    """The resources a kustomization lists, read straight from its files."""
    kustomization = load(directory / "kustomization.yaml")[0]
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        docs += load_dir(path) if path.is_dir() else load(path)
    return docs


def of_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def kustomize_build(directory: Path) -> list[Doc]:
    if kustomize := shutil.which("kustomize"):
        command = [kustomize, "build", str(directory)]
    elif kubectl := shutil.which("kubectl"):
        command = [kubectl, "kustomize", str(directory)]
    else:
        pytest.skip("neither kustomize nor kubectl is installed")
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]


def workload_problems(doc: Doc) -> list[str]:
    """What keeps a Deployment or StatefulSet from being probed, sized and hardened."""
    name = doc["metadata"]["name"]
    pod = doc["spec"]["template"]["spec"]
    problems = []
    pod_security = pod.get("securityContext", {})
    if pod_security.get("runAsNonRoot") is not True:
        problems.append(f"{name}: pod may run as root")
    if pod_security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{name}: no RuntimeDefault seccomp profile")
    tmp_volumes = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    for container in pod["containers"]:
        where = f"{name}/{container['name']}"
        for probe in ("livenessProbe", "readinessProbe"):
            if probe not in container:
                problems.append(f"{where}: no {probe}")
        resources = container.get("resources", {})
        for kind, keys in (("requests", ("cpu", "memory")), ("limits", ("memory",))):
            for key in keys:
                if key not in resources.get(kind, {}):
                    problems.append(f"{where}: no {key} {kind}")
        security = container.get("securityContext", {})
        if security.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is writable")
        if security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: privilege escalation allowed")
        if security.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{where}: capabilities not all dropped")
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        if mounts.get("/tmp") not in tmp_volumes:
            problems.append(f"{where}: /tmp is not an emptyDir")
    return problems


def workloads(docs: list[Doc]) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] in ("Deployment", "StatefulSet")]


def has_registry_host(image: str) -> bool:
    first, _, rest = image.partition("/")
    return bool(rest) and ("." in first or ":" in first or first == "localhost")


# --- files -------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(K8S.rglob("*.yaml")), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_parses(path: Path) -> None:
    assert load(path)


@pytest.mark.parametrize(
    "kustomization",
    sorted(K8S.rglob("kustomization.yaml")),
    ids=lambda p: str(p.parent.relative_to(K8S)),
)
def test_every_file_a_kustomization_names_exists(kustomization: Path) -> None:
    spec = load(kustomization)[0]
    directory = kustomization.parent
    for entry in spec.get("resources", []):
        path = directory / entry
        assert path.is_file() or (path / "kustomization.yaml").is_file(), entry
    for patch in spec.get("patches", []):
        if "path" in patch:
            assert (directory / patch["path"]).is_file(), patch["path"]


def test_every_component_has_a_manifest_listed_in_the_base() -> None:
    names = set(of_kind(load_dir(BASE), "Deployment"))
    assert names == {*SERVICES, *WORKERS, *STATIC}


# --- workloads ---------------------------------------------------------------


@pytest.mark.parametrize("directory", [BASE, INFRA], ids=["base", "infra"])
def test_every_workload_is_probed_sized_and_hardened(directory: Path) -> None:
    found = workloads(load_dir(directory))
    assert found
    assert [p for doc in found for p in workload_problems(doc)] == []


def test_every_component_serves_health_and_metrics_on_port_8000() -> None:
    for name, deployment in of_kind(load_dir(BASE), "Deployment").items():
        if name in STATIC:
            continue
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == (
            "8000",
            "/metrics",
        )
        [container] = template["spec"]["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": 8000}], name
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, name
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, name


def test_the_web_app_is_static_files_from_a_non_root_image_of_its_own() -> None:
    deployment = of_kind(load_dir(BASE), "Deployment")["web"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "kairos-web"
    assert container["ports"] == [{"name": "http", "containerPort": 8000}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert "env" not in container and "envFrom" not in container  # nothing secret, no config
    dockerfile = (ROOT / "web" / "Dockerfile").read_text()
    # Built with Node, served without it, as the uid the pods run as.
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) == 2
    assert "npm ci" in dockerfile and "vite build" in dockerfile
    assert dockerfile.rstrip().splitlines()[-3:][0] == "USER 10001:10001"
    nginx = (ROOT / "web" / "nginx.conf").read_text()
    assert "listen 8000;" in nginx
    assert "try_files $uri /index.html;" in nginx  # the app's own routes
    assert "pid /tmp/nginx.pid;" in nginx  # the root filesystem is read-only


def test_the_relay_is_a_singleton_that_never_overlaps_itself() -> None:
    relay = of_kind(load_dir(BASE), "Deployment")["booking-relay"]
    assert relay["spec"]["replicas"] == 1
    assert relay["spec"]["strategy"] == {"type": "Recreate"}
    [container] = relay["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "kairos-booking"
    assert container["command"] == ["python", "-m", "booking.relay"]


def test_the_projector_runs_the_availability_image_against_the_availability_database() -> None:
    base = load_dir(BASE)
    projector = of_kind(base, "Deployment")["availability-projector"]
    assert "Service" not in {
        doc["kind"] for doc in base if doc["metadata"]["name"] == "availability-projector"
    }
    [container] = projector["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "kairos-availability"
    assert container["command"] == ["python", "-m", "availability.projector"]
    env = {e["name"]: e for e in container["env"]}
    assert env["PROJECTOR_OPS_PORT"]["value"] == "8000"  # the probed port
    availability = of_kind(base, "Deployment")["availability"]
    [api] = availability["spec"]["template"]["spec"]["containers"]
    api_env = {e["name"]: e for e in api["env"]}
    for name in ("DATABASE_PASSWORD", "DATABASE_URL"):
        assert env[name] == api_env[name], name


def test_pods_run_as_the_user_the_image_creates() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    for name, deployment in of_kind(load_dir(BASE), "Deployment").items():
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001, name


def test_images_hold_the_runtime_and_services_never_the_dev_tooling() -> None:
    # The build context is shared/ and services/ only, so devtools/ cannot be copied in.
    included = [
        line.removeprefix("!")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    assert sorted(included) == ["services", "shared"]
    instructions = [
        line
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    installs = [line for line in instructions if "pip install" in line]
    assert installs and not [line for line in installs if re.search("devtools|kairos-dev", line)]


# --- configuration and secrets -------------------------------------------------


def secret_refs(container: Doc) -> dict[str, dict[str, str]]:
    """Environment variable → the Secret key it is read from."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def test_secrets_are_referenced_and_never_defined() -> None:
    manifests = [doc for path in K8S.rglob("*.yaml") for doc in load(path) if isinstance(doc, dict)]
    assert [doc["metadata"]["name"] for doc in manifests if doc.get("kind") == "Secret"] == []
    for name, deployment in of_kind(load_dir(BASE), "Deployment").items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        refs = secret_refs(container)
        for key in SECRETS_USED[name]:
            assert refs[key] == {"name": "kairos-secrets", "key": key}, name
        if name not in STATIC:
            assert container["envFrom"] == [{"configMapRef": {"name": "kairos-config"}}], name


def test_each_deployment_gets_only_the_secrets_its_service_uses() -> None:
    deployments = of_kind(load_dir(BASE), "Deployment")
    assert set(deployments) == set(SECRETS_USED)
    for name, deployment in deployments.items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        shared = {
            ref["key"] for ref in secret_refs(container).values() if ref["name"] == "kairos-secrets"
        }
        assert shared == SECRETS_USED[name], name


def test_each_service_connects_to_its_own_database_with_its_own_role() -> None:
    infra = load_dir(INFRA)
    [cluster] = of_kind(infra, "Cluster").values()
    role_secrets = {
        r["name"]: r["passwordSecret"]["name"] for r in cluster["spec"]["managed"]["roles"]
    }
    databases = {d["spec"]["name"]: d["spec"]["owner"] for d in of_kind(infra, "Database").values()}
    used = set()
    for name, deployment in of_kind(load_dir(BASE), "Deployment").items():
        if name in STATIC:
            continue
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        url = env["DATABASE_URL"]["value"]
        match = re.fullmatch(
            r"postgresql://(\w+):\$\(DATABASE_PASSWORD\)@\$\(DATABASE_HOST\)/(\w+)", url
        )
        assert match, url
        role, database = match.groups()
        assert databases[database] == role, name
        password = env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert password == {"name": role_secrets[role], "key": "password"}, name
        used.add(database)
    assert used == set(databases) == {s.replace("-", "_") for s in SERVICES}
    config = load(BASE / "kustomization.yaml")[0]["configMapGenerator"][0]["literals"]
    assert any(line.startswith("DATABASE_HOST=kairos-postgres-rw:") for line in config)


def test_topics_are_replicated_partitioned_and_have_dead_letter_and_heartbeat_topics() -> None:
    topics = of_kind(load_dir(INFRA), "KafkaTopic")
    events = {f"{t}.events.v1" for t in ("booking", "calendar", "video")}
    side = {dead_letter_topic(t) for t in events} | {heartbeat_topic(t) for t in events}
    assert set(topics) == events | side
    for name in map(heartbeat_topic, events):
        assert topics[name]["spec"]["partitions"] == HEARTBEAT_PARTITIONS
    for name, topic in topics.items():
        spec = topic["spec"]
        assert (spec["topicName"], spec["replicas"]) == (name, 3)
        assert spec["config"]["min.insync.replicas"] == 2


def config_literals() -> dict[str, str]:
    """kairos-config, the ConfigMap every component reads its settings from."""
    literals = load(BASE / "kustomization.yaml")[0]["configMapGenerator"][0]["literals"]
    return dict(line.split("=", 1) for line in literals)


def readme_job() -> Doc:
    """The replay Job deploy/k8s/README.md gives to apply by hand."""
    readme = (K8S / "README.md").read_text()
    [block] = re.findall(r"```yaml\n(# availability-replay\.yaml\n.*?)```", readme, re.DOTALL)
    [job] = yaml.safe_load_all(block)
    return dict(job)


def test_the_partition_count_is_one_setting_the_topics_and_every_component_share() -> None:
    partitions = int(config_literals()["KAFKA_PARTITIONS"])
    topics = of_kind(load_dir(INFRA), "KafkaTopic")
    events = {name: t["spec"]["partitions"] for name, t in topics.items() if name.endswith("v1")}
    assert events == dict.fromkeys(events, partitions)
    # The replay Job reads no ConfigMap (its name gets a hash): it must say the same.
    [container] = readme_job()["spec"]["template"]["spec"]["containers"]
    job_env = {e["name"]: e.get("value") for e in container["env"]}
    assert int(job_env["KAFKA_PARTITIONS"]) == partitions


def test_the_topics_belong_to_the_platform_and_probes_reach_the_workers() -> None:
    config = config_literals()
    assert config["KAFKA_TOPIC_MANAGEMENT"] == "external"
    assert config["OPS_HOST"] == "0.0.0.0"


def test_no_image_names_a_registry_host() -> None:
    images = [
        container["image"]
        for path in (BASE, INFRA)
        for doc in workloads(load_dir(path))
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]
    images += re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    images += re.findall(r"^ARG \w+_IMAGE=(\S+)$", (ROOT / "web" / "Dockerfile").read_text(), re.M)
    assert len(images) > len(SERVICES)
    assert [image for image in images if has_registry_host(image)] == []


# --- routing -------------------------------------------------------------------


def ingress_route(paths: list[tuple[str, str]], request_path: str) -> str | None:
    """Route as ingress-nginx does with use-regex: longest path first, first match wins."""
    for path, service in sorted(paths, key=lambda p: len(p[0]), reverse=True):
        if re.match(path, request_path, re.IGNORECASE):
            return service
    return None


ROUTING = [
    ("/v1/specialists", "booking"),
    ("/v1/specialists/3f2a/schedule", "booking"),
    ("/v1/services/3f2a", "booking"),
    ("/v1/bookings", "booking"),
    ("/v1/bookings/3f2a", "booking"),
    ("/v1/bookings/3f2a/cancel", "booking"),
    ("/v1/slots", "availability"),
    ("/v1/bookings/3f2a/join", "video"),
    ("/v1/bookings/3f2a/session", "video"),
    ("/v1/bookings/3f2a/notes/7", "video"),
    ("/v1/bookings/3f2a/recording-consent", "video"),
    ("/v1/bookings/3f2a/recording", "video"),
    ("/v1/webhooks/livekit", "video"),
    ("/v1/calendars/9c1d", "calendar-sync"),
    ("/v1/webhooks/google", "calendar-sync"),
    ("/v1/webhooks/microsoft", "calendar-sync"),
    ("/v1/specialists/3f2a/calendars", "calendar-sync"),
    ("/v1/bookingsx", None),
    ("/v1/bookings/3f2a/joiner", "booking"),
    ("/v1/bookings/3f2a/invite.ics", "notifications"),
    ("/v1/bookings/3f2a/invite.icsx", "booking"),
    ("/v1/push/vapid-public-key", "notifications"),
    ("/v1/push/subscriptions/9c1d", "notifications"),
    ("/v1/notifications/twilio/status", "notifications"),
    ("/V1/Slots", "availability"),
    # Every other path is the web app's, its own /healthz included; never a service's
    # /metrics or /healthz.
    ("/metrics", "web"),
    ("/healthz", "web"),
    ("/", "web"),
    ("/book/3f2a", "web"),
    ("/bookings/3f2a/join", "web"),
    ("/v1", None),
]


def ingress_paths() -> list[tuple[str, str]]:
    [ingress] = of_kind(load_dir(BASE), "Ingress").values()
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/use-regex"] == "true"
    return [
        (p["path"], p["backend"]["service"]["name"])
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    ]


@pytest.mark.parametrize(("request_path", "service"), ROUTING)
def test_the_ingress_sends_each_public_path_to_its_owner(
    request_path: str, service: str | None
) -> None:
    assert ingress_route(ingress_paths(), request_path) == service


def test_the_dev_gateway_has_the_ingress_routes_and_tries_them_as_ingress_nginx_does() -> None:
    # The routes the services register with the dev stack, tried longest first.
    table = Router(registered_services()).table
    dev_only = {s.name for s in registered_services() if s.dev_only}  # the /dev pages' fakes
    api = [route for route in ingress_paths() if route[1] not in STATIC]  # web: WebApp's
    assert sorted(route for route in table if route[1] not in dev_only) == sorted(api)
    lengths = [len(path) for path, _ in table]
    assert lengths == sorted(lengths, reverse=True)


@pytest.mark.parametrize(("request_path", "service"), ROUTING)
def test_the_dev_gateway_sends_each_public_path_where_the_ingress_does(
    request_path: str, service: str | None
) -> None:
    owner = Router(registered_services())(request_path)
    # The gateway serves the built web app itself (kairos_dev.web_app) where nothing routes.
    assert (owner or ("web" if WebApp.serves(request_path) else None)) == service


# --- built overlays --------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_each_overlay_builds_into_hardened_workloads(overlay: str) -> None:
    docs = kustomize_build(K8S / "overlays" / overlay)
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == {*SERVICES, *WORKERS, *STATIC}
    assert [p for doc in deployments.values() for p in workload_problems(doc)] == []
    assert {doc["metadata"].get("namespace") for doc in docs} == {"kairos"}
    for name, deployment in deployments.items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"].endswith(":dev" if overlay == "dev" else ":0.1.0"), name
    configmap = next(iter(of_kind(docs, "ConfigMap").values()))
    assert configmap["metadata"]["name"].startswith("kairos-config-")
    for name, deployment in deployments.items():
        if name in STATIC:
            continue
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": configmap["metadata"]["name"]}}]


def test_dev_runs_one_pod_of_each_component() -> None:
    deployments = of_kind(kustomize_build(K8S / "overlays" / "dev"), "Deployment")
    assert {name: d["spec"]["replicas"] for name, d in deployments.items()} == dict.fromkeys(
        deployments, 1
    )


def test_prod_autoscales_and_protects_every_service_but_the_relay() -> None:
    docs = kustomize_build(K8S / "overlays" / "prod")
    autoscalers = of_kind(docs, "HorizontalPodAutoscaler")
    budgets = of_kind(docs, "PodDisruptionBudget")
    assert {hpa["spec"]["scaleTargetRef"]["name"] for hpa in autoscalers.values()} == set(SERVICES)
    assert all(hpa["spec"]["minReplicas"] >= 2 for hpa in autoscalers.values())
    assert all(hpa["spec"]["maxReplicas"] <= 12 for hpa in autoscalers.values())  # partitions
    assert {pdb["spec"]["selector"]["matchLabels"]["app"] for pdb in budgets.values()} == {
        *SERVICES,
        "availability-projector",
        "video-consumer",
        "booking-video-sessions",
        "notifications-worker",
        *STATIC,
    }
    deployments = of_kind(docs, "Deployment")
    assert deployments["web"]["spec"]["replicas"] == 2
    assert deployments["booking-relay"]["spec"]["replicas"] == 1
    assert deployments["availability-projector"]["spec"]["replicas"] == 2
    assert deployments["notifications-worker"]["spec"]["replicas"] == 2
    # Replica counts of autoscaled Deployments belong to their autoscalers.
    assert [name for name in SERVICES if "replicas" in deployments[name]["spec"]] == []


def test_infra_builds() -> None:
    kinds = {doc["kind"] for doc in kustomize_build(INFRA)}
    assert {"Kafka", "KafkaNodePool", "KafkaTopic", "Cluster", "Database", "StatefulSet"} <= kinds
