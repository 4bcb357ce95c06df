"""The same subscriber wiring, against FastStream's in-memory broker (fast loop)."""

import pytest
from aiokafka.partitioner import DefaultPartitioner
from faststream.kafka import TestKafkaBroker
from hypothesis import given
from hypothesis import strategies as st

from dondoc_platform.kafka import AT_LEAST_ONCE, key_partition, make_broker
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


@given(key=st.binary(min_size=1, max_size=64), partitions=st.integers(min_value=1, max_value=64))
def test_key_partition_is_kafkas_default_partitioner(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert key_partition(key, partitions) == DefaultPartitioner()(key, every, every)
