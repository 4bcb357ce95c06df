"""Each Dockerfile passes hadolint (the binary of the pinned PyPI package) and keeps the
image's promises: a pinned slim base, the lock installed, a non-root user, no build tools
in the final stage, a health check, OCI labels."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.deploy.support import ROOT

pytestmark = pytest.mark.unit

DOCKERFILES = sorted(p.relative_to(ROOT) for p in ROOT.glob("**/Dockerfile*")
                     if not {".venv", ".tools", "node_modules"} & set(p.parts))
HADOLINT = Path(sys.executable).with_name("hadolint")


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HADOLINT), "--no-color", str(path)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def test_there_is_an_image() -> None:
    assert Path("Dockerfile") in DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=str)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    done = _hadolint(ROOT / dockerfile)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_fails_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n")
    done = _hadolint(bad)
    assert done.returncode != 0 and "DL3007" in done.stdout


def _stages(text: str) -> list[str]:
    return re.split(r"(?m)^FROM ", text)[1:]


def test_the_image_keeps_its_promises() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = _stages(text)
    assert len(stages) >= 2, "multi-stage: build, then a runtime without the build tools"
    python = re.search(r"(?m)^ARG PYTHON_VERSION=(\d+\.\d+\.\d+)$", text)
    assert python, "the Python base is pinned to a full version"
    assert all(s.startswith("python:${PYTHON_VERSION}-slim") for s in stages)
    build, final = stages[0], stages[-1]
    assert "uv sync --frozen" in build, "the lock file is installed as locked"
    assert "--no-dev" in build
    runtime = "\n".join(line for line in final.splitlines()
                         if not line.startswith("COPY --from=build"))
    assert not re.search(r"\b(uv sync|uv pip|pip install|apt-get install|gcc|build-essential)\b",
                         runtime), "no build tool in the final stage"
    user = re.findall(r"(?m)^USER (\S+)", final)
    assert user and not user[-1].startswith(("0", "root")), "the final stage runs as a non-root user"
    assert re.search(r"(?m)^HEALTHCHECK ", final)
    for label in ("title", "version", "revision", "licenses", "description"):
        assert f"org.opencontainers.image.{label}=" in final, label
    assert re.search(r'(?m)^ENTRYPOINT \["dondoc"\]', final)
