"""Keys derived from ``STREETBRAIN_SECRET_KEY``: AES-GCM for personal data, HMAC for search hashes,
token signing and API-key hashing.

Every purpose gets its own key through HKDF, so no key is used for two things. Ciphertexts name
the key they were made with (``v1.<key id>.<base64>``); old secrets listed in
``STREETBRAIN_PREVIOUS_SECRET_KEYS`` still decrypt, and ``streetbrain pii rotate`` re-encrypts
everything with the current one (see docs/security.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1"


def derive(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for ``purpose`` derived from ``secret`` (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"streetbrain", info=purpose.encode()).derive(secret)


def _key_id(secret: bytes) -> str:
    return hashlib.sha256(derive(secret, "key-id")).hexdigest()[:8]


@dataclass(frozen=True)
class KeyRing:
    """The current secret's keys, and the encryption keys of previous secrets (for decryption only)."""

    current_id: str
    encryption_keys: dict[str, bytes]
    search_key: bytes
    token_key: bytes
    api_key_keys: tuple[bytes, ...]

    @classmethod
    def from_secrets(cls, current: bytes, previous: tuple[bytes, ...] = ()) -> KeyRing:
        """Keys of ``current`` plus decryption keys of ``previous`` secrets."""
        keys = {_key_id(secret): derive(secret, "pii-encryption") for secret in (*previous, current)}
        return cls(
            current_id=_key_id(current),
            encryption_keys=keys,
            search_key=derive(current, "pii-search"),
            token_key=derive(current, "token-signing"),
            api_key_keys=tuple(derive(secret, "api-key-hash") for secret in (current, *previous)),
        )

    def encrypt(self, plaintext: str) -> str:
        """``v1.<key id>.<base64(nonce + ciphertext)>`` with AES-256-GCM and a random 96-bit nonce."""
        nonce = os.urandom(12)
        sealed = AESGCM(self.encryption_keys[self.current_id]).encrypt(nonce, plaintext.encode(), None)
        return f"{_PREFIX}.{self.current_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str) -> str:
        """The plaintext of :meth:`encrypt`'s output, with whichever known key made it."""
        prefix, key_id, body = token.split(".", 2)
        if prefix != _PREFIX or key_id not in self.encryption_keys:
            raise ValueError(
                f"personal data encrypted with an unknown key {key_id!r}; add the old secret to "
                "STREETBRAIN_PREVIOUS_SECRET_KEYS"
            )
        raw = base64.urlsafe_b64decode(body)
        return AESGCM(self.encryption_keys[key_id]).decrypt(raw[:12], raw[12:], None).decode()

    def is_current(self, token: str) -> bool:
        """Whether ``token`` was encrypted with the current key."""
        return token.split(".", 2)[1] == self.current_id

    def search_hash(self, kind: str, normalised: str) -> str:
        """Keyed hash of a normalised value for exact-match search (HMAC-SHA256, hex)."""
        return hmac.new(self.search_key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()

    def api_key_hash(self, key: str) -> str:
        """Keyed hash of an API key with the current secret (keys are random, so a fast hash is safe)."""
        return hmac.new(self.api_key_keys[0], key.encode(), hashlib.sha256).hexdigest()

    def api_key_matches(self, key: str, stored_hash: str) -> bool:
        """Whether ``key`` hashes to ``stored_hash`` under the current or a previous secret."""
        return any(
            hmac.compare_digest(stored_hash, hmac.new(k, key.encode(), hashlib.sha256).hexdigest())
            for k in self.api_key_keys
        )


_ring: KeyRing | None = None


def configure(current: bytes, previous: tuple[bytes, ...] = ()) -> KeyRing:
    """Install the process's key ring (done by the app factory and the CLI)."""
    global _ring
    _ring = KeyRing.from_secrets(current, previous)
    return _ring


def key_ring() -> KeyRing:
    """The installed key ring; raises when the process has not configured one."""
    if _ring is None:
        raise RuntimeError("no key ring: call core.security.crypto.configure(settings.secret_key_bytes()) first")
    return _ring
