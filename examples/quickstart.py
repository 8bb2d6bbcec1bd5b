"""Quick start: run a snippet that calls registered functions, then show an error.

python examples/quickstart.py
"""

from __future__ import annotations

import asyncio

import agent_tools as at

CITIES = {"Paris": 18.5, "Oslo": 7.0, "Cairo": 31.0}


def get_temperature(city: str) -> float:
    """Current temperature in Celsius."""
    if city not in CITIES:
        raise KeyError(f"unknown city {city!r}")
    return CITIES[city]


async def to_fahrenheit(celsius: float) -> float:
    """An async function: the sandboxed code still calls it plainly."""
    await asyncio.sleep(0)
    return celsius * 9 / 5 + 32


CODE = """
temps = parallel_map(get_temperature, cities)
warmest = max(zip(cities, temps), key=lambda pair: pair[1])
print("warmest:", warmest[0])
{"city": warmest[0], "fahrenheit": to_fahrenheit(warmest[1])}
"""


def main() -> None:
    template = at.orchestrator_from_str(
        CODE,
        inputs={"cities": list[str]},
        output=dict[str, str | float],
        tasks=[get_temperature, to_fahrenheit],
    )
    record = at.run(template, cities=["Paris", "Oslo", "Cairo"])
    print("result:", record.result)
    print("printed:", record.stdout.strip())
    for call in record.calls:
        print(f"  host call {call.function}{call.args} -> {call.result!r} ({call.duration * 1e6:.0f} us)")
    print(f"run took {record.duration * 1e3:.2f} ms")

    print("\nAn error, as the model would see it:")
    try:
        template(cities=["Paris", "Atlantis"])
    except at.SandboxError as error:
        print(error)


if __name__ == "__main__":
    main()
