"""Helpers for tests and benchmarks: real service processes on free ports."""

from kairos_dev.testing.services import ServiceProcess, service_env

__all__ = ["ServiceProcess", "service_env"]
