"""Claims that end up in every event's actor must be identifiers: refused at the door (401)."""

from __future__ import annotations

import pytest

from dondoc_platform.auth import AuthError, principal_from_claims

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("claims", [
    {"sub": "Nguyễn Văn A", "roles": ["office"]},
    {"sub": "a b", "roles": ["office"]},
    {"sub": "btg.b", "roles": ["unit"], "unit_id": "Ban Tuyên giáo"},
])
def test_a_subject_or_unit_that_is_not_an_identifier_is_refused(claims: dict) -> None:
    with pytest.raises(AuthError, match="identifier"):
        principal_from_claims(claims)


def test_an_identifier_subject_gives_an_actor() -> None:
    principal = principal_from_claims({"sub": "vptu.nguyenvana", "roles": ["office"]})
    assert principal.actor().id == "vptu.nguyenvana"
