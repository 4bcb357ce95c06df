"""The sample service's outbox relay as an OS process of its own (the crash test kills it).

    python -m tests.backbone.relay_proc --store URL --bootstrap HOST:PORT --topic NAME

Runs until SIGTERM or SIGINT; prints one line when its producer is connected.
"""

from __future__ import annotations

import argparse
import asyncio

from dondoc_platform.outbox import OutboxRelay
from tests.backbone import sample_service as svc
from tests.backbone.processes import runner_arguments, stop_on_signals


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = runner_arguments("relay_proc")  # --topic: publish every event to this topic
    parser.add_argument("--store", required=True, help="the sample service's store URL")
    parser.add_argument("--batch-size", type=int, default=250)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    stop = stop_on_signals()
    app = svc.open_app(args.store)
    relay = OutboxRelay(app, service="tasks", translate=svc.translate, bootstrap=args.bootstrap,
                        batch_size=args.batch_size, route=lambda _: args.topic)
    try:
        async with relay:
            print(f"relay: publishing to {args.topic}", flush=True)
            await relay.run(stop)
    finally:
        app.close()


if __name__ == "__main__":
    asyncio.run(run(parse_args()))
