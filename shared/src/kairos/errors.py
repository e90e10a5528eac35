"""The one base of every refusal the API answers: `KairosError`.

A refusal knows its error code, HTTP status, message and details, so one handler
(kairos.web.errors, installed by the shared app factory) answers all of them in the
documented shape {"error": {"code", "message", "details"}}. It lives outside
kairos.web so pure domain modules can subclass it without importing the web stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class KairosError(Exception):
    """A request refused for a reason the caller can act on. Subclasses set `code` (the
    API's error code) and `status`; one with extra response headers overrides `headers`."""

    code = "error"
    status = 400

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def headers(self) -> Mapping[str, str] | None:
        return None
