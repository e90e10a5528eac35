"""HTTP pieces every service mounts the same way: errors, health, metrics, logs."""

from kairos.web.app import service_app
from kairos.web.errors import ApiError, error_response, install_error_handlers
from kairos.web.health import health_router, postgres_check
from kairos.web.lazy_app import lazy_app
from kairos.web.observability import configure_logging, install_metrics
from kairos.web.openapi import document_api

__all__ = [
    "ApiError",
    "configure_logging",
    "document_api",
    "error_response",
    "health_router",
    "install_error_handlers",
    "install_metrics",
    "lazy_app",
    "postgres_check",
    "service_app",
]
