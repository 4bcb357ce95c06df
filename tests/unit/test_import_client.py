"""The importer's HTTP client: what a person is told when a service does not answer."""

from __future__ import annotations

import httpx
import pytest

from dondoc.importer.client import ApiError, Suite

pytestmark = pytest.mark.unit


def test_a_service_that_does_not_answer_is_named_with_how_to_start_it() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with Suite({"tasks": "http://127.0.0.1:8002"}, "token") as suite:
        suite.clients["tasks"] = httpx.Client(base_url="http://127.0.0.1:8002",
                                              transport=httpx.MockTransport(refuse))
        with pytest.raises(ApiError) as refused:
            suite.request("tasks", "GET", "/tasks", attempts=1)
    error = refused.value
    assert (error.status, error.code) == (0, "unreachable")
    assert "http://127.0.0.1:8002" in error.message_en and "dondoc dev up" in error.message_en
    assert "Dịch vụ đã chạy chưa?" in error.message_vi
