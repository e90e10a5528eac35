"""The `kairos` command is what the installed packages register (entry point group
`kairos.commands`); its settings come from the environment, else from a registered
source; a service's replay finds another's event store by its topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from booking.integration import booking_log
from kairos.cli import installed_commands, main
from kairos.commands import setting
from kairos.event_sources import EventSourceMissing, event_source
from kairos.events import BOOKING_TOPIC
from kairos.plugins import PluginError
from tests.shared.installed import install

pytestmark = pytest.mark.unit

# A package's command, as a service would write one.
OPS = """
import argparse
from kairos.commands import Command, setting

def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--page-size", type=int, default=10)

def run(args: argparse.Namespace) -> int:
    print(f"replayed in pages of {args.page_size} from {setting('CLINIC_DATABASE_URL')}")
    return 7

REPLAY = Command("rebuild clinic notes", run, arguments)
NOT_A_COMMAND = "replay"
SOURCE = lambda: {"CLINIC_DATABASE_URL": "postgresql://from-the-source/clinic"}
"""


def test_the_installed_commands_are_the_runtimes_the_services_and_the_dev_toolings() -> None:
    assert sorted(installed_commands()) == [
        "dev",
        "effects.parked",
        "effects.redrive",
        "reencrypt.calendar-sync",
        "reencrypt.webhooks",
        "replay.availability",
        "republish.booking",
        "tail",
        "token",
    ]


def test_a_package_adds_a_command_beside_anothers_under_the_same_verb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLINIC_DATABASE_URL", "postgresql://from-the-environment/clinic")
    install(
        tmp_path,
        monkeypatch,
        "kairos-clinic-notes",
        modules={"clinic_ops": OPS},
        entry_points={"kairos.commands": {"replay.clinic-notes": "clinic_ops:REPLAY"}},
    )

    assert main(["replay", "clinic-notes", "--page-size", "3"]) == 7
    assert capsys.readouterr().out == (
        "replayed in pages of 3 from postgresql://from-the-environment/clinic\n"
    )
    with pytest.raises(SystemExit):
        main(["replay", "--help"])
    listed = capsys.readouterr().out
    assert "availability" in listed and "clinic-notes" in listed


def test_a_setting_the_environment_lacks_comes_from_a_registered_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLINIC_DATABASE_URL", raising=False)
    assert setting("CLINIC_DATABASE_URL") is None
    install(
        tmp_path,
        monkeypatch,
        "kairos-clinic-settings",
        modules={"clinic_ops": OPS},
        entry_points={"kairos.settings_sources": {"clinic": "clinic_ops:SOURCE"}},
    )

    assert setting("CLINIC_DATABASE_URL") == "postgresql://from-the-source/clinic"
    monkeypatch.setenv("CLINIC_DATABASE_URL", "postgresql://env/clinic")
    assert setting("CLINIC_DATABASE_URL") == "postgresql://env/clinic"


def test_a_command_registered_twice_is_refused_naming_both_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(
        tmp_path,
        monkeypatch,
        "kairos-impostor",
        modules={"clinic_ops": OPS},
        entry_points={"kairos.commands": {"replay.availability": "clinic_ops:REPLAY"}},
    )

    with pytest.raises(PluginError, match=r"'replay\.availability' is registered twice") as error:
        main(["tail", "--help"])
    assert "kairos-availability" in str(error.value) and "kairos-impostor" in str(error.value)


def test_a_registration_that_is_not_a_command_is_refused_naming_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(
        tmp_path,
        monkeypatch,
        "kairos-broken",
        modules={"clinic_ops": OPS},
        entry_points={"kairos.commands": {"broken": "clinic_ops:NOT_A_COMMAND"}},
    )

    with pytest.raises(PluginError, match="broken = clinic_ops:NOT_A_COMMAND is a str"):
        installed_commands()


def test_a_service_finds_anothers_event_store_by_its_topic() -> None:
    assert event_source(BOOKING_TOPIC) is booking_log


def test_an_event_store_no_package_provides_is_named_with_what_to_install() -> None:
    with pytest.raises(EventSourceMissing) as missing:
        event_source("clinic-notes.events.v1")

    assert "no installed package provides the event store of clinic-notes.events.v1" in str(
        missing.value
    )
    assert "EXTRA_SERVICES" in str(missing.value)
