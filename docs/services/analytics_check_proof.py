#!/usr/bin/env python3
"""Check a dondoc task-history proof offline, with nothing of dondoc installed.

    python3 analytics_check_proof.py proof.json public-keys.json [KEPT ...]

`proof.json` is the output of `dondoc audit history TASK_ID --prove [--kept KEPT]`;
`public-keys.json` holds the checkpoint keys the auditor trusts ({key_id: base64 Ed25519
public key}), kept apart from the system being checked; each KEPT is a checkpoint file
(`*.checkpoint.json`) or a folder of them that the auditor kept from earlier exports
(`dondoc audit export`). Needs Python 3.9+ and the `cryptography` package.

For every event it recomputes the canonical bytes of the stored event, its leaf hash
SHA-256(0x00 ‖ bytes), folds the inclusion proof up to a root (RFC 9162 §2.1.3.2) and
compares it with the root of the checkpoint, whose Ed25519 signature it checks. For every
kept checkpoint of the same log it checks the consistency proof (RFC 9162 §2.1.4.2) from
the kept root to the proof's root: the log proven now extends the log signed then. Exit 0
when everything is proven, 1 otherwise.
"""

import base64
import hashlib
import json
import pathlib
import sys
import uuid

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def lp(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def canonical(e: dict) -> bytes:
    originator = e["originator_id"]
    try:
        originator = str(uuid.UUID(originator))
    except ValueError:
        pass
    return (b"dondoc.event.v1" + e["position"].to_bytes(8, "big") + lp(originator.encode())
            + e["originator_version"].to_bytes(8, "big") + lp(e["topic"].encode())
            + lp(base64.b64decode(e["state_base64"])))


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def included(leaf: bytes, index: int, size: int, proof: list, root: bytes) -> bool:
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in (bytes.fromhex(h) for h in proof):
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def consistent(first: int, second: int, first_root: bytes, second_root: bytes, proof: list) -> bool:
    if first == second:
        return not proof and first_root == second_root
    if first <= 0 or second < first or not proof:
        return False
    path = [bytes.fromhex(h) for h in proof]
    if first & (first - 1) == 0:  # a power of two: the first tree is a subtree of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def kept_checkpoints(paths: list) -> list:
    found = []
    for name in paths:
        path = pathlib.Path(name)
        files = sorted(path.glob("*.checkpoint.json")) if path.is_dir() else [path]
        found += [json.loads(f.read_text(encoding="utf-8")) for f in files]
    return found


def check_kept(document: dict, kept: list, keys: dict) -> int:
    """Failures: kept checkpoints the proof's checkpoint of the same log does not extend."""
    failures = 0
    for old in kept:
        current = document["checkpoints"].get(old["service"])
        if current is None:
            continue
        label = f"kept checkpoint {old['service']} size {old['size']}"
        if not signed(old, keys):
            print(f"{label}: SIGNATURE NOT TRUSTED")
            failures += 1
            continue
        if old["size"] > current["size"]:
            print(f"{label}: NEWER than the proof's checkpoint (size {current['size']})")
            failures += 1
            continue
        proof = document.get("consistency", {}).get(old["service"], {}).get(str(old["size"]))
        if proof is None and old["size"] < current["size"]:
            print(f"{label}: NO CONSISTENCY PROOF (make the proof with --kept)")
            failures += 1
            continue
        ok = consistent(old["size"], current["size"], bytes.fromhex(old["root"]),
                        bytes.fromhex(current["root"]), proof or [])
        print(f"{label}: {'extended by the proof' if ok else 'NOT EXTENDED: the log was rewritten'}")
        failures += not ok
    return failures


def signed(checkpoint: dict, keys: dict) -> bool:
    key = keys.get(checkpoint["key_id"])
    if key is None:
        return False
    statement = checkpoint["statement"]
    lines = statement.split("\n")
    root = base64.b64decode(lines[2])
    if lines[1] != str(checkpoint["size"]) or root.hex() != checkpoint["root"]:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key)).verify(
            base64.b64decode(checkpoint["signature"]), statement.encode("utf-8"))
    except InvalidSignature:
        return False
    return True


def main(proof_file: str, keys_file: str, *kept: str) -> int:
    document = json.load(open(proof_file, encoding="utf-8"))
    keys = json.load(open(keys_file, encoding="utf-8"))
    failures = 0
    for service, checkpoint in document["checkpoints"].items():
        ok = signed(checkpoint, keys)
        print(f"checkpoint {service} size {checkpoint['size']}: "
              f"{'signature OK' if ok else 'SIGNATURE NOT TRUSTED'}")
        failures += not ok
    for e in document["events"]:
        label = f"{e['business_day']} {e['type']} ({e['service']} #{e['position']})"
        if not e.get("inclusion_proof"):
            print(f"{label}: not proven ({e.get('unproven_reason')})")
            failures += 1
            continue
        checkpoint = document["checkpoints"][e["service"]]
        leaf = hashlib.sha256(b"\x00" + canonical(e["stored_event"])).digest()
        ok = (e["tree_size"] == checkpoint["size"]
              and included(leaf, e["leaf_index"], e["tree_size"], e["inclusion_proof"],
                           bytes.fromhex(checkpoint["root"])))
        print(f"{label}: {'included' if ok else 'NOT INCLUDED'}")
        failures += not ok
    if kept:
        failures += check_kept(document, kept_checkpoints(list(kept)), keys)
    else:
        print("not compared with kept checkpoints (pass the files or folders you kept)")
    print("all proven" if not failures else f"{failures} failure(s)")
    return 0 if not failures else 1


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
