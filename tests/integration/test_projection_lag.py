"""A service's own read model reports how far behind its log it is: events not applied and
the age of the oldest of them; 0 once caught up. A broken projection shows a growing lag
(what the ProjectionStale alert watches)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from dondoc_platform import metrics
from dondoc_platform.projection import StoreProjection, sql_engine
from tests.backbone.sample_service import open_app, write_events

pytestmark = pytest.mark.integration


def test_lag_is_measured_against_the_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.sqlite'}"
    app = open_app(url)
    engine = sql_engine(url)
    metadata = sa.MetaData()
    broken = {"yes": True}

    def apply(conn: sa.Connection, events) -> None:
        if broken["yes"]:
            raise RuntimeError("the read model's table is locked")

    projection = StoreProjection(app, engine, metadata, name="tracker-view", apply=apply)
    projection.create_tables()
    write_events(app, aggregates=2, notes_each=2)
    with pytest.raises(RuntimeError):
        projection.catch_up()
    assert projection.observe_lag() == 6
    assert metrics.PROJECTION_LAG_EVENTS.labels("tracker-view")._value.get() == 6
    assert 0 < metrics.PROJECTION_LAG_SECONDS.labels("tracker-view")._value.get() < 600

    broken["yes"] = False
    assert projection.catch_up() == 6
    assert projection.observe_lag() == 0
    assert metrics.PROJECTION_LAG_SECONDS.labels("tracker-view")._value.get() == 0
    app.close()
    engine.dispose()
