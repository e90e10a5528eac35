"""The cryptography of personal data: AES-256-GCM with a random 96-bit nonce.

Two levels of keys: each data subject has a random 256-bit data key that seals its
values; the key store keeps that key wrapped (AES-GCM) under the master key, which
lives only in the environment (PRIVACY_MASTER_KEY). Both bind the subject id as
associated data, so a ciphertext or a wrapped key moved to another subject fails to
open. The blind index (the key store's digest of an e-mail address) is an HMAC under
its own secret (PRIVACY_INDEX_KEY): the master key can then be rotated by re-wrapping
the data keys, which needs no address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kairos.events.sealed import Sealed

NONCE_BYTES = 12
KEY_BYTES = 32


class Unreadable(Exception):
    """A ciphertext that does not open under the key given (wrong subject or key)."""


def derive_key(secret: str, purpose: str) -> bytes:
    """A 256-bit key from a secret setting of any length (at least 32 bytes, see
    kairos.settings), distinct for each purpose."""
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode()
    ).derive(secret.encode())


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _encrypt(key: bytes, subject: UUID, plaintext: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, subject.bytes)


def _decrypt(key: bytes, subject: UUID, blob: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], subject.bytes)
    except (InvalidTag, ValueError):
        raise Unreadable(f"a value of subject {subject} does not open under this key") from None


def wrap(master: bytes, subject: UUID, data_key: bytes) -> bytes:
    return _encrypt(master, subject, data_key)


def unwrap(master: bytes, subject: UUID, wrapped: bytes) -> bytes:
    return _decrypt(master, subject, wrapped)


def seal(data_key: bytes, subject: UUID, value: str) -> Sealed:
    blob = _encrypt(data_key, subject, value.encode())
    return Sealed(subject=subject, sealed=base64.b64encode(blob).decode())


def open_sealed(data_key: bytes, value: Sealed) -> str:
    return _decrypt(data_key, value.subject, base64.b64decode(value.sealed)).decode()


def blind_index(index_key: bytes, email: str) -> bytes:
    """The key store's digest of an address: equal for equal addresses (trimmed, case
    folded), and useless for guessing addresses without the index key."""
    return hmac.new(index_key, normalise_email(email).encode(), hashlib.sha256).digest()


def normalise_email(email: str) -> str:
    return email.strip().casefold()


def keyed_digest(data_key: bytes, text: str) -> str:
    """A digest of personal text that nobody can check a guess against once the key
    is gone (e.g. a request's fingerprint)."""
    return hmac.new(data_key, text.encode(), hashlib.sha256).hexdigest()
