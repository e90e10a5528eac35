"""What every topic's payloads share: the base model and the string types of the contract."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# The producing API validated the address in full before it entered an event store;
# consumers only need to reject garbage. email-validator's IDNA checks cost about
# 100 µs an event, which was most of a replay's time.
Email = Annotated[
    str,
    Field(
        max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$", json_schema_extra={"format": "email"}
    ),
]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
