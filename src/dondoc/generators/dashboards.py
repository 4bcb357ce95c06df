"""deploy/grafana/dashboards/<uid>.json from the dashboards as code (src/dondoc/dashboards);
a dashboard file whose dashboard went away goes too."""

from __future__ import annotations

from pathlib import Path


def generate(root: Path) -> list[Path]:
    from dondoc.dashboards import dashboards, render, to_text
    from dondoc.generate import write_if_changed

    directory = root / "deploy" / "grafana" / "dashboards"
    wanted = {directory / f"{uid}.json": to_text(render(build())) for uid, build in dashboards()}
    changed = [path for path, content in wanted.items() if write_if_changed(path, content)]
    for path in directory.glob("*.json"):
        if path not in wanted:
            path.unlink()
            changed.append(path)
    return changed
