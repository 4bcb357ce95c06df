"""A signed checkpoint: "the log of service S had N events and Merkle root R at time T".

The signed statement is plain text, one field per line, in the spirit of the transparency
logs' checkpoint notes:

    <origin>/<service>
    <size>
    <root, base64>
    time <ISO 8601, UTC>

The document an auditor keeps is JSON: the statement's fields, the statement itself, the
key id and the Ed25519 signature (base64) of the statement's UTF-8 bytes, and the
consistency proof from the previous checkpoint of the same log (RFC 9162 §2.1.4), which
needs no trust: it is checked against both signed roots.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    service: str
    size: int
    root: bytes
    time: datetime
    key_id: str = ""
    signature: str = ""
    previous_size: int | None = None
    consistency_proof: tuple[bytes, ...] = field(default=())

    def statement(self) -> bytes:
        moment = self.time.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
        return (f"{self.origin}/{self.service}\n{self.size}\n"
                f"{base64.b64encode(self.root).decode()}\ntime {moment}\n").encode("utf-8")

    def signed(self, key_id: str, signature: str) -> Checkpoint:
        return replace(self, key_id=key_id, signature=signature)

    def document(self) -> dict[str, Any]:
        return {
            "origin": self.origin, "service": self.service, "size": self.size,
            "root": self.root.hex(), "time": self.time.astimezone(timezone.utc).isoformat(),
            "statement": self.statement().decode("utf-8"), "key_id": self.key_id,
            "signature": self.signature, "previous_size": self.previous_size,
            "consistency_proof": [h.hex() for h in self.consistency_proof],
        }

    def to_json(self) -> str:
        return json.dumps(self.document(), indent=2, ensure_ascii=False)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Checkpoint:
        made = cls(origin=document["origin"], service=document["service"],
                   size=int(document["size"]), root=bytes.fromhex(document["root"]),
                   time=datetime.fromisoformat(document["time"]),
                   key_id=document.get("key_id", ""), signature=document.get("signature", ""),
                   previous_size=document.get("previous_size"),
                   consistency_proof=tuple(bytes.fromhex(h) for h in
                                           document.get("consistency_proof") or ()))
        if document.get("statement") and document["statement"].encode("utf-8") != made.statement():
            raise ValueError("the checkpoint's statement does not match its fields")
        return made

    @classmethod
    def from_json(cls, text: str | bytes) -> Checkpoint:
        return cls.from_document(json.loads(text))

    def file_name(self) -> str:
        return f"{self.service}-{self.size:012d}.checkpoint.json"
