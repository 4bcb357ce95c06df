"""`make generate`: every generated file of the repository, from one command.

Each generator writes its files only when their content changed, so a clean tree stays
clean and CI can tell a stale file by `git diff`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

def _generators() -> list[tuple[str, Callable[[Path], list[Path]]]]:
    from dondoc.generators import api, dashboards, deploy, events

    return [("event contracts", events.generate), ("OpenAPI documents", api.generate),
            # before the deployment: the Kubernetes ConfigMaps carry the dashboards
            ("Grafana dashboards", dashboards.generate),
            ("deployment (compose, Kubernetes, configuration reference)", deploy.generate)]


def write_if_changed(path: Path, content: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return True


def main() -> None:
    for name, generator in _generators():
        changed = generator(ROOT)
        print(f"generate {name}: {len(changed)} file(s) changed")


if __name__ == "__main__":
    main()
