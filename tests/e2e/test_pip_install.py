"""An operator who does not use uv installs the suite with pip from the lock export."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_pip_installs_the_locked_suite_and_its_command_runs(tmp_path: Path) -> None:
    target = tmp_path / "venv"
    venv.create(target, with_pip=True)
    pip = [str(target / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    # every workspace member (libs/kafkabatch is a C extension: pip builds it, as uv does)
    members = [*sorted(str(p) for p in (ROOT / "libs").iterdir() if (p / "pyproject.toml").exists()),
               *sorted(str(p) for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists()),
               str(ROOT)]
    subprocess.run([*pip, "install", "--require-hashes", "-r", str(ROOT / "requirements.lock.txt")],
                   check=True, timeout=900)
    subprocess.run([*pip, "install", "--no-deps", *members], check=True, timeout=900)
    subprocess.run([*pip, "check"], check=True, timeout=120)
    result = subprocess.run([str(target / "bin" / "dondoc"), "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dev" in result.stdout and "serve" in result.stdout
    imported = subprocess.run([str(target / "bin" / "python"), "-c",
                               "import dondoc_contracts, dondoc_platform.outbox, dondoc_kafkabatch; print('ok')"],
                              capture_output=True, text=True, timeout=120)
    assert imported.stdout.strip() == "ok", imported.stderr
    assert sys.version_info[:2] == (3, 11)
