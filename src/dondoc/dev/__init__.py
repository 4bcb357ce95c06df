"""The local stack: a real Apache Kafka, PostgreSQL and Prometheus without Docker.

`dondoc dev up | down | status | logs` drives it; the test suite starts a private one.
"""

from dondoc.dev.errors import StackError
from dondoc.dev.stack import Stack, StackConfig

__all__ = ["Stack", "StackConfig", "StackError"]
