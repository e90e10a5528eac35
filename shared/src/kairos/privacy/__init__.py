"""Personal data that can be forgotten (ARCHITECTURE.md rule 7): crypto-shredding with a
key per data subject. See docs/privacy.md."""

from kairos.events.sealed import ERASED, Personal, PersonalEmail, Sealed, as_sealed, subject_of
from kairos.privacy.erasure import ErasureLedger, ErasureStatus
from kairos.privacy.keys import KeyStore
from kairos.privacy.personal import PersonalData, Revealer, Sealer

__all__ = [
    "ERASED",
    "ErasureLedger",
    "ErasureStatus",
    "KeyStore",
    "Personal",
    "PersonalData",
    "PersonalEmail",
    "Revealer",
    "Sealed",
    "Sealer",
    "as_sealed",
    "subject_of",
]
