"""The same subscriber wiring, against FastStream's in-memory broker (fast loop)."""

import pytest
from faststream.kafka import TestKafkaBroker

from dondoc_platform.kafka import AT_LEAST_ONCE, make_broker
from dondoc_platform.settings import KafkaSettings

pytestmark = pytest.mark.unit


async def test_in_memory_broker_delivers_to_the_subscriber() -> None:
    broker = make_broker(KafkaSettings())
    seen: list[dict] = []

    @broker.subscriber("dondoc.test", group_id="g")
    async def handle(body: dict) -> None:
        seen.append(body)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish({"unit": "Ban Dân vận"}, "dondoc.test")
        handle.mock.assert_called_once_with({"unit": "Ban Dân vận"})
    assert seen == [{"unit": "Ban Dân vận"}]


def test_brokers_never_auto_commit_before_processing() -> None:
    assert AT_LEAST_ONCE.value == "nack_on_error"
    broker = make_broker(KafkaSettings())

    @broker.subscriber("dondoc.test", group_id="g")
    async def handle(body: dict) -> None: ...

    (subscriber,) = broker.subscribers
    assert subscriber.ack_policy is AT_LEAST_ONCE
