"""What the command services cost when nobody uses them: CPU per process over an idle spell.

    uv run python bench/idle.py [--seconds 60] [--settle 15] [--api-processes 2] [--json out.json]

Starts the suite as `bench/commands.py` does (the local stack's Kafka and PostgreSQL, then
directives, tasks and reports as `dondoc serve` processes, `--api-processes` − 1 more API
processes for directives and reports), lets it settle, then reads the CPU time (user +
system, /proc, with children) of every service process, PostgreSQL and Kafka over
`--seconds` of no requests at all, and gives it in cores (CPU-seconds per second)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from commands import cpu_seconds, emit, machine, processes  # noqa: E402


def main(args: argparse.Namespace) -> None:
    from dondoc.dev import Stack, StackConfig
    from dondoc.dev.suite import ProcessSuite

    stack = Stack(StackConfig.from_env())
    left_running = [n for n in ("kafka", "postgres") if stack.components[n].running_pid() is not None]
    stack.up(["kafka", "postgres"])
    try:
        with tempfile.TemporaryDirectory(prefix="bench-idle-") as scratch, ProcessSuite(
                Path(scratch) / "suite", kafka_bootstrap=stack.kafka.address(),
                postgres_url=stack.postgres.url,
                env={"DONDOC_LOG_LEVEL": "WARNING", **dict(e.split("=", 1) for e in args.env)}) as suite:
            for name in ("directives", "reports"):
                for _ in range(args.api_processes - 1):
                    suite.add_api_process(name)
            time.sleep(args.settle)  # start-up work (topics, tables, first polls) is not idling
            roots = processes(suite, stack)
            before, started = cpu_seconds(roots), time.perf_counter()
            time.sleep(args.seconds)
            after, elapsed = cpu_seconds(roots), time.perf_counter() - started
            cores = {name: round((after[name] - before.get(name, 0.0)) / elapsed, 4) for name in after}
            services = sum(v for k, v in cores.items() if k not in ("postgresql", "kafka"))
            results = {"machine": machine(), "seconds": round(elapsed, 1), "cores": cores,
                       "services_cores": round(services, 4),
                       "total_cores": round(sum(cores.values()), 4)}
            emit(results, args.json)
    finally:
        started = [n for n in ("kafka", "postgres") if n not in left_running]
        if started:
            stack.down(started)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="length of the idle spell")
    parser.add_argument("--settle", type=float, default=15, help="seconds before measuring")
    parser.add_argument("--api-processes", type=int, default=2)
    parser.add_argument("--env", action="append", default=[],
                        help="NAME=value for every service process (repeatable)")
    parser.add_argument("--json", help="also write the results here")
    return parser.parse_args()


if __name__ == "__main__":
    main(arguments())
