"""Uniqueness the office relies on (a unit's name and code, a directive's number in its
year), held by small aggregates whose id is derived from the normalised key: two
registrations of the same key create the same aggregate, and the store refuses the second
in the same transaction as the rest of the command."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

CLAIMS = uuid5(NAMESPACE_URL, "https://dondoc.vn/directives/claims")


def claim_id(kind: str, key: str) -> UUID:
    return uuid5(CLAIMS, f"{kind}:{key}")


class Claim(Aggregate):
    """A key (kind, normalised value) held by one owner, released when the owner lets go."""

    @staticmethod
    def create_id(kind: str, key: str) -> UUID:
        return claim_id(kind, key)

    @event("Claimed")
    def __init__(self, kind: str, key: str, owner: str) -> None:
        self.kind = kind
        self.key = key
        self.owner: str | None = owner

    @event("Released")
    def release(self) -> None:
        self.owner = None

    @event("Reclaimed")
    def reclaim(self, owner: str) -> None:
        self.owner = owner
