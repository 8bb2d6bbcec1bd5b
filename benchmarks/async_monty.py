"""Would Monty's async sessions (`AsyncMonty`) make run_code faster from an event loop?

    python benchmarks/async_monty.py [--repeat 10] [--runs 50]

agent-tools runs the sandbox on a worker thread (`run_in_executor`) when called from
an event loop, and an async registered function hops back to the loop for each call.
`AsyncMonty` instead awaits the feed on the loop itself, and its host callbacks run
there. This compares the two with raw Monty only (no agent-tools code), on the snippet
of `benchmarks/vs_harness.py`: 10 calls of a sync `add`, and 5 sync + 5 async calls.

- thread: `pydantic_monty.Monty` checkout + `feed_run` in `loop.run_in_executor`; the
  async function is called with `asyncio.run_coroutine_threadsafe(...).result()`;
- async: `pydantic_monty.AsyncMonty` checkout + `await feed_run`; the code awaits the
  async function (`t = await add_async(...)`), as AsyncMonty requires.

Interleaved blocks, p50 per run; the ratio is async / thread (below 1: AsyncMonty is
faster). Nothing asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic_monty

SYNC = "t = 0\nfor i in range(10):\n    t = add(t, i)\nt"
MIXED = "t = 0\nfor i in range(5):\n    t = add(t, i)\n    t = {await_}add_async(t, i + 5)\nt"
EXPECTED = 45

_serials = itertools.count()


def add(a: int, b: int) -> int:
    return a + b


async def add_async(a: int, b: int) -> int:
    return a + b


async def main(repeat: int, runs: int) -> None:
    loop = asyncio.get_running_loop()

    def blocking_add_async(a: int, b: int) -> int:
        return asyncio.run_coroutine_threadsafe(add_async(a, b), loop).result()

    async with pydantic_monty.AsyncMonty() as async_pool:
        with pydantic_monty.Monty() as pool:

            def fed(code: str, lookup: dict[str, Any]) -> Any:
                with pool.checkout() as session:
                    return session.feed_run(f"serial = {next(_serials)}\n{code}", external_lookup=lookup)

            async def thread(code: str, lookup: dict[str, Any]) -> Any:
                return await loop.run_in_executor(None, fed, code, lookup)

            async def awaited(code: str, lookup: dict[str, Any]) -> Any:
                async with async_pool.checkout() as session:
                    return await session.feed_run(
                        f"serial = {next(_serials)}\n{code}", external_lookup=lookup
                    )

            cases: dict[str, Callable[[], Awaitable[Any]]] = {
                "10 sync calls, thread": lambda: thread(SYNC, {"add": add}),
                "10 sync calls, AsyncMonty": lambda: awaited(SYNC, {"add": add}),
                "5 sync + 5 async calls, thread": lambda: thread(
                    MIXED.format(await_=""), {"add": add, "add_async": blocking_add_async}
                ),
                "5 sync + 5 async calls, AsyncMonty": lambda: awaited(
                    MIXED.format(await_="await "), {"add": add, "add_async": add_async}
                ),
            }
            for name, case in cases.items():  # warm-up, and each must compute 45
                for _ in range(5):
                    value = await case()
                    if value != EXPECTED:
                        raise SystemExit(f"{name} returned {value!r}, expected {EXPECTED}")
            samples: dict[str, list[float]] = {name: [] for name in cases}
            for block in range(repeat):
                order = list(cases.items())
                for name, case in order if block % 2 == 0 else reversed(order):
                    start = time.perf_counter()
                    for _ in range(runs):
                        await case()
                    samples[name].append((time.perf_counter() - start) / runs)
    p50 = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
    print("| snippet | thread (Monty) | AsyncMonty | AsyncMonty / thread |")
    print("|---|---:|---:|---:|")
    for snippet in ("10 sync calls", "5 sync + 5 async calls"):
        thread_us, async_us = p50[f"{snippet}, thread"], p50[f"{snippet}, AsyncMonty"]
        print(f"| {snippet} | {thread_us:,.0f} us | {async_us:,.0f} us | {async_us / thread_us:.2f}x |")
    print(f"\n(p50 of {repeat} blocks of {runs} runs each, pydantic-monty {pydantic_monty.__version__})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.repeat, args.runs))
