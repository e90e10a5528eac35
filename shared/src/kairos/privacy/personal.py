"""`PersonalData`: the one way to seal personal values and to read them back.

A producer seals a person's values with `sealer(email)`; a consumer or a view reads
any personal field with `reveal` (or a `Revealer` for a batch: one query for all the
subjects of a page). Keys are read from the key store on every call, never kept
between calls: once an erasure has deleted a key, no process can open its values,
and a reveal gives ERASED.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any
from uuid import UUID

from kairos.events.sealed import ERASED, Sealed, as_sealed
from kairos.privacy import crypto
from kairos.privacy.keys import KeyStore, SubjectKey


class Sealer:
    """Seals the values of one data subject, with their key as `read_key` gives it.

    The key is read when first needed, not before: a request refused before it seals
    anything (a booking of a slot already taken) neither reads nor makes a key, so it
    costs no key-store statement and leaves no record of a person it kept nothing of.
    A Sealer serves one request, in one thread.
    """

    def __init__(self, read_key: Callable[[], SubjectKey]) -> None:
        self._read_key = read_key
        self._key: SubjectKey | None = None

    @property
    def subject(self) -> UUID:
        return self.key.subject

    @property
    def key(self) -> SubjectKey:
        if self._key is None:
            self._key = self._read_key()
        return self._key

    @property
    def key_read(self) -> SubjectKey | None:
        """The key, if it has been read: what this sealer can lend a Revealer for free."""
        return self._key

    def seal(self, value: str) -> dict[str, Any]:
        """The stored (JSON) form of `value`, sealed."""
        key = self.key
        return crypto.seal(key.key, key.subject, value).stored()

    def seal_optional(self, value: str | None) -> dict[str, Any] | None:
        return None if value is None else self.seal(value)

    def digest(self, text: str) -> str:
        """A digest of personal `text` (a request's fingerprint) that can't be checked
        against a guess once this subject is erased."""
        return crypto.keyed_digest(self.key.key, text)


class Revealer:
    """Opens sealed values; keys are fetched once per subject for this revealer's life,
    which is one view, page or event: make a new one for each."""

    def __init__(self, keys: KeyStore, known: Iterable[SubjectKey] = ()) -> None:
        self._store = keys
        self._keys: dict[UUID, bytes | None] = {k.subject: k.key for k in known}

    def prefetch(self, values: Any) -> None:
        """Fetch, in one query, the keys of every sealed value in `values` (nested lists
        and dicts of stored values)."""
        subjects = {s.subject for s in _sealed_in(values) if s.subject not in self._keys}
        if subjects:
            found = self._store.keys(subjects)
            self._keys.update({subject: found.get(subject) for subject in subjects})

    def reveal(self, value: Any) -> str:
        """The clear text of a personal value (a Sealed or its stored JSON form); ERASED if
        its subject was erased; a legacy plain string as it is."""
        sealed = as_sealed(value)
        if sealed is None:
            if not isinstance(value, str):
                raise TypeError(f"not a personal value: {type(value).__name__}")
            return value
        if sealed.subject not in self._keys:
            self.prefetch([sealed])
        key = self._keys[sealed.subject]
        if key is None:
            return ERASED
        try:
            return crypto.open_sealed(key, sealed)
        except crypto.Unreadable:
            return ERASED

    def reveal_optional(self, value: Any) -> str | None:
        return None if value is None else self.reveal(value)


def _sealed_in(values: Any) -> list[Sealed]:
    sealed = as_sealed(values)
    if sealed is not None:
        return [sealed]
    if isinstance(values, dict):
        return [s for v in values.values() for s in _sealed_in(v)]
    if isinstance(values, list | tuple):
        return [s for v in values for s in _sealed_in(v)]
    return []


class PersonalData:
    """Seals and reveals personal values against one key store."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def sealer(self, email: str) -> Sealer:
        """Seals the values of the person with this address (their key, made if new, is
        read on the first seal or digest)."""
        return Sealer(partial(self.keys.key_for, email))

    def subject_sealer(self, subject: UUID) -> Sealer | None:
        """Seals more values of a person known by their subject id (from a sealed value of
        theirs); None once they are erased: nothing new is kept about them."""
        key = self.keys.keys([subject]).get(subject)
        if key is None:
            return None
        known = SubjectKey(subject, key)
        return Sealer(lambda: known)

    def revealer(self, *sealers: Sealer) -> Revealer:
        """A new Revealer; `sealers` made within the same request lend it the keys they
        read a moment ago (a view of what was just sealed then needs no key query)."""
        lent = (sealer.key_read for sealer in sealers)
        return Revealer(self.keys, (key for key in lent if key is not None))

    def reveal(self, value: Any) -> str:
        """One personal value in clear, or ERASED: the shared way to read a personal field."""
        return self.revealer().reveal(value)
