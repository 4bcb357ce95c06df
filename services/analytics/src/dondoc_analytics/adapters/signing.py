"""Ed25519 keys of the audit checkpoints. The private key comes from a file or a secret in
the environment, never from the database; verifiers trust public keys given to them
(a file an auditor keeps), not keys found beside the data they check."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_public(key)).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id_of(self.public)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()

    def public_document(self) -> dict[str, str]:
        return {self.key_id: base64.b64encode(raw_public(self.public)).decode()}


def parse_private(text: str | bytes) -> Ed25519PrivateKey:
    data = text.encode() if isinstance(text, str) else text
    if b"BEGIN" in data:
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the audit signing key must be an Ed25519 key")
        return key
    raw = base64.b64decode(data.strip())
    if len(raw) != 32:
        raise ValueError("a raw Ed25519 private key is 32 bytes (base64)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_signer(settings: Any) -> Signer | None:
    if settings.audit_signing_key_file:
        return Signer(parse_private(Path(settings.audit_signing_key_file).read_bytes()))
    if settings.audit_signing_key:
        return Signer(parse_private(settings.audit_signing_key))
    return None


def trusted_keys(settings: Any) -> dict[str, Ed25519PublicKey]:
    if settings.audit_public_keys_file:
        return load_public_keys(Path(settings.audit_public_keys_file))
    signer = load_signer(settings)
    return {signer.key_id: signer.public} if signer else {}


def load_public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    document = json.loads(path.read_text())
    return {k: Ed25519PublicKey.from_public_bytes(base64.b64decode(v)) for k, v in document.items()}


def verify_signature(keys: dict[str, Ed25519PublicKey], key_id: str, message: bytes,
                     signature: str) -> bool:
    key = keys.get(key_id)
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def generate(private_file: Path) -> Signer:
    """A new key, written as PEM readable by its owner only."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    private_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return Signer(key)
