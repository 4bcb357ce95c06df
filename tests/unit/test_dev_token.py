"""`dondoc dev token` prints a bearer token the services accept: signed by the local
stack's development key (created on first use), with the role, unit, group and clearance."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dondoc.cli import app
from dondoc_platform.auth import AuthError, TokenVerifier
from dondoc_platform.settings import AuthSettings

pytestmark = pytest.mark.unit


def test_the_dev_token_is_verified_with_the_stacks_key(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DONDOC_STATE_DIR", str(tmp_path))
    runner = CliRunner()
    printed = runner.invoke(app, ["dev", "token", "--role", "reviewer", "--review-group",
                                  "Kinh tế - xã hội", "--clearance", "mat", "--subject", "to.ra.soat"])
    assert printed.exit_code == 0, printed.output
    verifier = TokenVerifier(AuthSettings(jwks_file=str(tmp_path / "auth" / "jwks.json")))
    principal = verifier.verify(printed.output.strip())
    assert (principal.subject, principal.review_group, principal.clearance.value) == (
        "to.ra.soat", "Kinh tế - xã hội", "mat")
    unit = runner.invoke(app, ["dev", "token", "--role", "unit", "--unit", "BTG", "--ttl", "60"])
    assert verifier.verify(unit.output.strip()).unit_id == "BTG"
    other_stack = TokenVerifier(AuthSettings(jwks_file=str(tmp_path / "other.json")))
    (tmp_path / "other.json").write_text('{"keys": []}')
    with pytest.raises(AuthError):
        other_stack.verify(unit.output.strip())
