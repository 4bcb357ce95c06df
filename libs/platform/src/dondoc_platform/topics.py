"""Every Kafka topic of the suite, declared once (the local stack, the deployment manifests
and the tests all read this list)."""

from __future__ import annotations

from dondoc_contracts import AUDIT_CHECKPOINT_TOPIC, SERVICES, dlq_topic, topic_for
from dondoc_platform.kafka import TopicSpec, event_topic

EVENT_PARTITIONS = 6
DLQ_PARTITIONS = 1


def suite_topics(partitions: int = EVENT_PARTITIONS, replication: int = 1) -> list[TopicSpec]:
    topics: list[TopicSpec] = []
    for service in SERVICES:
        name = topic_for(service)
        topics.append(event_topic(name, partitions, replication))
        topics.append(event_topic(dlq_topic(name), DLQ_PARTITIONS, replication))
    topics.append(event_topic(AUDIT_CHECKPOINT_TOPIC, 1, replication))
    return topics
