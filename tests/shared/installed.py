"""An installed package made on the spot: its modules and its entry points, in a
directory put first on sys.path, where importlib.metadata finds it as it finds any
installed distribution. Tests register commands and services with it, the way a new
service's pyproject.toml would, without installing anything."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest


def install(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    *,
    modules: Mapping[str, str],
    entry_points: Mapping[str, Mapping[str, str]],
) -> None:
    """Distribution `name` with `modules` ({dotted name: source}) and `entry_points`
    ({group: {name: "module:attribute"}}), importable until the test ends."""
    for module, source in modules.items():
        path = root.joinpath(*module.split(".")).with_suffix(".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items())
            for group, entries in entry_points.items()
        )
    )
    monkeypatch.syspath_prepend(str(root))
