"""Weather domain: daily forecasts for twelve European cities, 2024-07-01 to 2024-07-14,
plus unit conversions. Generated deterministically from a fixed seed."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

__all__ = ["CITIES", "FORECASTS", "make_functions"]

# name, country, latitude, longitude, typical July high (C), chance of a wet day
_CITY_ROWS: list[tuple[str, str, float, float, float, float]] = [
    ("Lisbon", "PT", 38.72, -9.14, 28.0, 0.05),
    ("Porto", "PT", 41.15, -8.61, 25.0, 0.12),
    ("Madrid", "ES", 40.42, -3.70, 32.5, 0.06),
    ("Barcelona", "ES", 41.39, 2.17, 28.5, 0.15),
    ("Seville", "ES", 37.39, -5.98, 35.5, 0.03),
    ("Paris", "FR", 48.86, 2.35, 25.5, 0.30),
    ("Lyon", "FR", 45.76, 4.84, 28.0, 0.28),
    ("Rome", "IT", 41.90, 12.50, 31.0, 0.12),
    ("Berlin", "DE", 52.52, 13.40, 24.5, 0.35),
    ("Bergen", "NO", 60.39, 5.32, 18.0, 0.60),
    ("Oslo", "NO", 59.91, 10.75, 22.0, 0.40),
    ("Athens", "GR", 37.98, 23.73, 33.0, 0.04),
]

CITIES: list[dict[str, Any]] = [
    {"name": n, "country": c, "latitude": lat, "longitude": lon} for n, c, lat, lon, _, _ in _CITY_ROWS
]

START = dt.date(2024, 7, 1)
DAYS = 14


def _condition(rng: random.Random, high: float, precip: float) -> str:
    if precip >= 10:
        return "thunderstorms" if high >= 24 else "heavy rain"
    if precip > 0:
        return "showers"
    return rng.choice(["sunny", "sunny", "partly cloudy", "cloudy"])


def _generate() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(7_2024)
    out: dict[str, list[dict[str, Any]]] = {}
    for name, _, _, _, base, wet in _CITY_ROWS:
        days: list[dict[str, Any]] = []
        for i in range(DAYS):
            high = round(base + rng.uniform(-4.0, 4.0), 1)
            low = round(high - rng.uniform(7.0, 12.0), 1)
            precip = round(rng.uniform(0.4, 24.0), 1) if rng.random() < wet else 0.0
            days.append(
                {
                    "city": name,
                    "date": (START + dt.timedelta(days=i)).isoformat(),
                    "high_c": high,
                    "low_c": low,
                    "precip_mm": precip,
                    "condition": _condition(rng, high, precip),
                    "wind_kph": rng.randint(4, 42),
                    "humidity_pct": rng.randint(25, 95),
                }
            )
        out[name] = days
    return out


FORECASTS: dict[str, list[dict[str, Any]]] = _generate()


def make_functions() -> dict[str, Callable[..., Any]]:
    """Fresh functions over the forecast data (read-only)."""

    def _city(city: str) -> list[dict[str, Any]]:
        for name, days in FORECASTS.items():
            if name.lower() == city.strip().lower():
                return days
        raise KeyError(f"no forecasts for city {city!r}; see list_cities()")

    def list_cities(country: str | None = None) -> list[dict[str, Any]]:
        """The cities with forecasts, optionally only those in `country` (a two-letter code
        such as "ES", "FR", "NO"). Each city is a dict with name, country, latitude, longitude."""
        return [dict(c) for c in CITIES if country is None or c["country"] == country.upper()]

    def get_forecast(city: str, date: str) -> dict[str, Any]:
        """The forecast for one `city` (by name) on one `date` (YYYY-MM-DD, 2024-07-01 to
        2024-07-14): a dict with city, date, high_c, low_c (degrees Celsius), precip_mm,
        condition, wind_kph and humidity_pct."""
        for day in _city(city):
            if day["date"] == date:
                return dict(day)
        raise KeyError(f"no forecast for {city} on {date}; forecasts cover 2024-07-01 to 2024-07-14")

    def get_forecast_range(city: str, start_date: str, end_date: str) -> list[dict[str, Any]]:
        """The daily forecasts for `city` from `start_date` to `end_date` inclusive
        (YYYY-MM-DD), in date order; each day has the fields of get_forecast."""
        return [dict(d) for d in _city(city) if start_date <= d["date"] <= end_date]

    def celsius_to_fahrenheit(celsius: float) -> float:
        """Convert degrees Celsius to degrees Fahrenheit, rounded to one decimal."""
        return round(celsius * 9 / 5 + 32, 1)

    def fahrenheit_to_celsius(fahrenheit: float) -> float:
        """Convert degrees Fahrenheit to degrees Celsius, rounded to one decimal."""
        return round((fahrenheit - 32) * 5 / 9, 1)

    def kph_to_mph(kph: float) -> float:
        """Convert kilometres per hour to miles per hour, rounded to one decimal."""
        return round(kph / 1.609344, 1)

    def mm_to_inches(mm: float) -> float:
        """Convert millimetres to inches, rounded to two decimals."""
        return round(mm / 25.4, 2)

    return {
        f.__name__: f
        for f in (
            list_cities,
            get_forecast,
            get_forecast_range,
            celsius_to_fahrenheit,
            fahrenheit_to_celsius,
            kph_to_mph,
            mm_to_inches,
        )
    }
