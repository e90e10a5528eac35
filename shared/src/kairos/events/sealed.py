"""`Sealed`: how a personal value travels in events, encrypted under its data subject's key
(kairos.privacy seals and reveals them).

Every personal field of the event contract (names, e-mail addresses, phones, intake
answers, notes, a bio) is a `Sealed`: the data subject's id and the AES-GCM ciphertext
of the value (kairos.privacy.crypto). Erasing the subject deletes its key, and every
copy of the value, in any store or topic, is unreadable from then on. The value itself
is never in a `Sealed`'s repr or str, so logging one logs no personal data.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from kairos.events.payload import Email
from kairos.text import Storable

#: What a consumer gets for a personal value whose subject has been erased.
ERASED = "[erased]"


class Sealed(BaseModel):
    """A personal value, readable only while its data subject's key exists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: UUID = Field(description="The data subject whose key sealed the value")
    sealed: str = Field(
        description="base64 of the 12-byte AES-GCM nonce followed by the ciphertext",
        pattern=r"^[A-Za-z0-9+/]+={0,2}$",
    )

    def __repr__(self) -> str:
        return f"Sealed(subject={self.subject})"

    __str__ = __repr__

    def stored(self) -> dict[str, Any]:
        """The JSON form kept in event stores and read models."""
        return {"subject": str(self.subject), "sealed": self.sealed}


_LEGACY = (
    "A plain string only in events stored before personal data was sealed (read as it is"
    " until the store is re-sealed); every new event carries the sealed object."
)

#: A personal text field of the contract (name, phone, answer, notes, bio).
Personal = Annotated[Sealed | Storable, Field(description=_LEGACY)]
#: A personal e-mail address.
PersonalEmail = Annotated[Sealed | Email, Field(description=_LEGACY)]


def as_text(value: Sealed | str) -> str:
    """A personal value for one text column: its sealed JSON (as erasable as the event it
    came from), or a legacy plain string as it is."""
    return value.model_dump_json() if isinstance(value, Sealed) else value


def as_sealed(value: Any) -> Sealed | None:
    """The `Sealed` a stored value (a Sealed, or its JSON form) is; None for anything else
    (a legacy plain string, None)."""
    if isinstance(value, Sealed):
        return value
    if isinstance(value, dict) and set(value) == {"subject", "sealed"}:
        return Sealed.model_validate(value)
    return None


def subject_of(value: Any) -> UUID | None:
    """The data subject of a sealed value, stored or not; None for a legacy plain one."""
    sealed = as_sealed(value)
    return sealed.subject if sealed is not None else None
