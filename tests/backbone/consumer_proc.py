"""The sample consumer (SqlInbox into PostgreSQL) as an OS process of its own (the crash
test kills it).

    python -m tests.backbone.consumer_proc --database URL --bootstrap HOST:PORT \\
        --topic NAME --group GROUP [--instance ID]

`--instance` makes the process a static member of its group: a restarted process with the
same id takes its partitions back at once instead of waiting for the old session to expire.
Runs until SIGTERM or SIGINT; prints one line when its subscriber is started.
"""

from __future__ import annotations

import argparse
import asyncio

import sqlalchemy as sa
from aiokafka import AIOKafkaProducer

from dondoc_platform.inbox import DeadLetters, SqlInbox, aiokafka_publisher, subscribe
from dondoc_platform.kafka import make_broker
from dondoc_platform.settings import KafkaSettings
from dondoc_platform.stores import StoreURL
from tests.backbone import sample_service as svc
from tests.backbone.processes import runner_arguments, stop_on_signals

CONSUMER = "crash-consumer"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = runner_arguments("consumer_proc")
    parser.add_argument("--database", required=True, help="PostgreSQL URL of the effects")
    parser.add_argument("--group", required=True)
    parser.add_argument("--instance", default=None, help="static group membership id")
    parser.add_argument("--max-records", type=int, default=500)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    stop = stop_on_signals()
    engine = sa.create_engine(StoreURL.parse(args.database).sqlalchemy_url())
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all",
                                enable_idempotence=True)
    inbox = SqlInbox(engine, svc.metadata, consumer=CONSUMER, apply=svc.apply_progress,
                     dead_letters=DeadLetters(aiokafka_publisher(producer), CONSUMER))
    svc.create_effect_tables(engine)
    broker = make_broker(KafkaSettings(bootstrap=args.bootstrap))
    membership = {"group_instance_id": args.instance, "session_timeout_ms": 6000,
                  "heartbeat_interval_ms": 1000} if args.instance else {}
    subscribe(broker, [args.topic], group_id=args.group, inbox=inbox,
              max_records=args.max_records, **membership)
    await producer.start()
    try:
        async with broker:
            await broker.start()
            print(f"consumer: subscribed to {args.topic} as {args.group}", flush=True)
            await stop.wait()
    finally:
        await producer.stop()
        engine.dispose()


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
