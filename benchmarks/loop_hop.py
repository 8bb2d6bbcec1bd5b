"""What one call of an async function costs a feeding thread when the function runs
on an event loop of another thread (as for a run an agent awaits).

    python benchmarks/loop_hop.py [--calls 200] [--rounds 30]

Compares `asyncio.run_coroutine_threadsafe(coro, loop).result()` with
`agent_tools.sandbox.eager.LoopCall(coro, loop).result()`, which hands the coroutine
over with one `call_soon_threadsafe` and takes its outcome back through a queue.
The coroutine returns at once, so what is measured is the hop there and back.
Rounds of `--calls` calls alternate between the two; it prints the p50 over rounds
of the wall and CPU time per call, and their ratio. Nothing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Callable

from agent_tools.sandbox.eager import LoopCall


async def plus_one(x: int) -> int:
    return x + 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def threadsafe(x: int) -> int:
        return asyncio.run_coroutine_threadsafe(plus_one(x), loop).result()

    def loop_call(x: int) -> int:
        return LoopCall(plus_one(x), loop).result()

    ways: dict[str, Callable[[int], int]] = {
        "run_coroutine_threadsafe(...).result()": threadsafe,
        "LoopCall(...).result()": loop_call,
    }
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, call in ways.items():
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(args.calls):
                if call(i) != i + 1:
                    raise SystemExit(f"{name} returned a wrong value")
            wall_us = (time.perf_counter() - wall) / args.calls * 1e6
            cpu_us = (time.process_time() - cpu) / args.calls * 1e6
            samples[name].append((wall_us, cpu_us))
    loop.call_soon_threadsafe(loop.stop)
    base_wall = statistics.median(s[0] for s in samples["run_coroutine_threadsafe(...).result()"])
    print(f"{'one async call from another thread':<42} {'wall us':>8} {'cpu us':>8}  ratio (wall)")
    for name, values in samples.items():
        wall = statistics.median(s[0] for s in values)
        cpu = statistics.median(s[1] for s in values)
        print(f"{name:<42} {wall:>8.1f} {cpu:>8.1f}  {wall / base_wall:.2f}x")


if __name__ == "__main__":
    main()
