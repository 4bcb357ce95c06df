from __future__ import annotations

import pytest

from dondoc.deploy.spec import Spec


@pytest.fixture(scope="session")
def spec() -> Spec:
    return Spec.load()
