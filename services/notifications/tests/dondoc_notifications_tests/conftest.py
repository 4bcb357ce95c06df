"""Fixtures of the notifications tests: a real SMTP server and a real webhook receiver."""

from __future__ import annotations

import pytest

from dondoc.dev.process import free_port

from .support import SmtpServer, WebhookServer


@pytest.fixture
def smtp():
    server = SmtpServer(free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def hooks():
    server = WebhookServer().start()
    yield server
    server.stop()
