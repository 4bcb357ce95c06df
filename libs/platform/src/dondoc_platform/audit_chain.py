"""The hash chain over a service's log: `h_n = SHA-256(h_{n-1} ‖ canonical bytes of event n)`.

The canonical bytes of a stored event are length-prefixed and independent of the database:

    b"dondoc.event.v1" ‖ u64(position) ‖ lp(originator id, UTF-8) ‖ u64(originator version)
                       ‖ lp(topic, UTF-8) ‖ lp(state)

where u64 is 8 bytes big-endian and lp(x) is u32(len(x)) big-endian followed by x. The
originator id is the canonical text of the UUID (lower case, hyphenated). The chain starts
from 32 zero bytes. The Merkle tree of the audit work hashes the same canonical bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from uuid import UUID

GENESIS = bytes(32)
DOMAIN = b"dondoc.event.v1"


def canonical_originator(originator_id: UUID | str) -> str:
    if isinstance(originator_id, UUID):
        return str(originator_id)
    try:
        return str(UUID(originator_id))
    except ValueError:
        return originator_id


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def canonical_bytes(position: int, originator_id: UUID | str, originator_version: int,
                    topic: str, state: bytes) -> bytes:
    return b"".join((
        DOMAIN,
        position.to_bytes(8, "big"),
        _lp(canonical_originator(originator_id).encode("utf-8")),
        originator_version.to_bytes(8, "big"),
        _lp(topic.encode("utf-8")),
        _lp(bytes(state)),
    ))


def link(previous: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(previous + canonical).digest()


@dataclass(frozen=True)
class LoggedEvent:
    position: int
    originator_id: UUID | str
    originator_version: int
    topic: str
    state: bytes

    def canonical(self) -> bytes:
        return canonical_bytes(self.position, self.originator_id, self.originator_version,
                               self.topic, self.state)


@dataclass(frozen=True)
class ChainLink:
    """A stored link: the hash at `position`, made from the hash at `previous_position`
    (0 for the first event of the log)."""

    position: int
    previous_position: int
    hash: bytes


def chain(previous_position: int, previous: bytes,
          events: Iterable[LoggedEvent]) -> Iterator[ChainLink]:
    """The links of `events` (in log order), continuing from a known link."""
    current, before = previous, previous_position
    for event in events:
        current = link(current, event.canonical())
        yield ChainLink(event.position, before, current)
        before = event.position


@dataclass(frozen=True)
class Damage:
    """One finding of a verification, named by position and kind."""

    position: int
    kind: str  # altered | reordered | removed | missing_event | unchained | relinked
    detail: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.kind}: {self.detail}"


def verify(events: Sequence[LoggedEvent], links: Sequence[ChainLink]) -> list[Damage]:
    """Check every stored link against the stored events.

    Each link is checked from the stored hash of its own predecessor, so a finding points
    at the damaged position, not at everything after it.
    """
    by_position = {e.position: e for e in events}
    stored = {item.position: item for item in links}
    damage: list[Damage] = []
    for position in sorted(set(by_position) - set(stored)):
        damage.append(Damage(position, "unchained",
                             "an event without a chain link (its link was removed, or the "
                             "event was written outside the recorder)"))
    failing: list[tuple[int, bytes]] = []
    previous_position = 0
    for position in sorted(stored):
        item = stored[position]
        if item.previous_position != previous_position:
            gone = item.previous_position
            if gone not in stored and gone not in by_position:
                damage.append(Damage(gone, "removed",
                                     f"the event at {gone} and its chain link were removed "
                                     f"(the link at {position} was made after it)"))
            elif gone not in stored:
                pass  # reported as "unchained" above
            else:
                damage.append(Damage(position, "relinked",
                                     f"the link says it follows {gone}, the log says "
                                     f"{previous_position}"))
        previous_position = position
        if item.previous_position == 0:
            prev_hash: bytes | None = GENESIS
        else:
            before = stored.get(item.previous_position)
            prev_hash = before.hash if before else None
        event = by_position.get(position)
        if event is None:
            damage.append(Damage(position, "missing_event",
                                 "the chain has a link here but the event is gone"))
        elif prev_hash is not None and link(prev_hash, event.canonical()) != item.hash:
            failing.append((position, prev_hash))
    damage.extend(_classify(failing, by_position, stored))
    return sorted(damage, key=lambda d: (d.position, d.kind))


def _classify(failing: list[tuple[int, bytes]], by_position: dict[int, LoggedEvent],
              stored: dict[int, ChainLink]) -> list[Damage]:
    """Name each failing link: two events swapped, or one event altered."""
    found: list[Damage] = []
    explained: set[int] = set()
    for i, (p, prev_p) in enumerate(failing):
        for q, prev_q in failing[i + 1:]:
            if p in explained or q in explained:
                continue
            ep, eq = by_position[p], by_position[q]
            moved_p = LoggedEvent(p, eq.originator_id, eq.originator_version, eq.topic, eq.state)
            moved_q = LoggedEvent(q, ep.originator_id, ep.originator_version, ep.topic, ep.state)
            if (link(prev_p, moved_p.canonical()) == stored[p].hash
                    and link(prev_q, moved_q.canonical()) == stored[q].hash):
                detail = f"the events at positions {p} and {q} were swapped"
                found += [Damage(p, "reordered", detail), Damage(q, "reordered", detail)]
                explained |= {p, q}
    for p, _ in failing:
        if p not in explained:
            found.append(Damage(p, "altered", "the stored event does not match its chain link"))
    return found
