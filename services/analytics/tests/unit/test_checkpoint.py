"""A signed checkpoint: its statement, its signature, its file form."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from dondoc_analytics.adapters.signing import generate, parse_private, verify_signature
from dondoc_analytics.domain import merkle
from dondoc_analytics.domain.checkpoint import Checkpoint

pytestmark = pytest.mark.unit


def test_a_checkpoint_is_signed_over_its_statement_and_survives_its_file(tmp_path: Path) -> None:
    signer = generate(tmp_path / "k.pem")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    unsigned = Checkpoint("dondoc", "tasks", 7, merkle.leaf_hash(b"x"),
                          datetime(2019, 1, 1, 2, tzinfo=timezone.utc))
    checkpoint = unsigned.signed(signer.key_id, signer.sign(unsigned.statement()))
    assert checkpoint.statement().decode().splitlines()[:2] == ["dondoc/tasks", "7"]
    again = Checkpoint.from_json(checkpoint.to_json())
    keys = {signer.key_id: signer.public}
    assert again == checkpoint
    assert verify_signature(keys, again.key_id, again.statement(), again.signature)
    forged = Checkpoint("dondoc", "tasks", 8, again.root, again.time, again.key_id, again.signature)
    assert not verify_signature(keys, forged.key_id, forged.statement(), forged.signature)
    document = checkpoint.document()
    document["size"] = 8
    with pytest.raises(ValueError):
        Checkpoint.from_document(document)


def test_keys_load_from_pem_or_raw_base64(tmp_path: Path) -> None:
    import base64

    from cryptography.hazmat.primitives import serialization

    signer = generate(tmp_path / "k.pem")
    raw = signer.private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                       serialization.NoEncryption())
    assert parse_private(base64.b64encode(raw).decode()).public_key().public_bytes_raw() == \
        parse_private((tmp_path / "k.pem").read_bytes()).public_key().public_bytes_raw()
    with pytest.raises(ValueError):
        parse_private(base64.b64encode(b"short").decode())
