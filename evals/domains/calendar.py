"""Calendar domain: ten colleagues' meetings in the week of 2024-09-09 (Monday) to
2024-09-13 (Friday), working hours 09:00-17:00, and booking new meetings.

The meetings are generated deterministically from a fixed seed. Bookings are kept in the
closures `make_functions()` returns, so each task run starts from the same calendar.
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["DATES", "MEETINGS", "PEOPLE", "make_functions"]

PEOPLE: list[dict[str, Any]] = [
    {"id": "alice", "name": "Alice Chen", "team": "Platform", "email": "alice@corp.example"},
    {"id": "bob", "name": "Bob Okafor", "team": "Platform", "email": "bob@corp.example"},
    {"id": "carol", "name": "Carol Diaz", "team": "Platform", "email": "carol@corp.example"},
    {"id": "heidi", "name": "Heidi Larsen", "team": "Platform", "email": "heidi@corp.example"},
    {"id": "dan", "name": "Dan Novak", "team": "Design", "email": "dan@corp.example"},
    {"id": "erin", "name": "Erin Walsh", "team": "Design", "email": "erin@corp.example"},
    {"id": "frank", "name": "Frank Moreau", "team": "Sales", "email": "frank@corp.example"},
    {"id": "grace", "name": "Grace Kim", "team": "Sales", "email": "grace@corp.example"},
    {"id": "ivan", "name": "Ivan Petrov", "team": "Data", "email": "ivan@corp.example"},
    {"id": "judy", "name": "Judy Mensah", "team": "Data", "email": "judy@corp.example"},
]

DATES = [(dt.date(2024, 9, 9) + dt.timedelta(days=i)).isoformat() for i in range(5)]
DAY_START = 9 * 60
DAY_END = 17 * 60

_TITLES = [
    "Roadmap sync",
    "1:1",
    "Customer call",
    "Architecture review",
    "Hiring interview",
    "Sprint planning",
    "Incident retro",
    "Budget review",
    "Lunch and learn",
    "Vendor demo",
    "Pairing session",
    "Quarterly planning",
]


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def _generate() -> list[dict[str, Any]]:
    rng = random.Random(909)
    ids = [p["id"] for p in PEOPLE]
    platform = [p["id"] for p in PEOPLE if p["team"] == "Platform"]
    busy: dict[tuple[str, str], list[tuple[int, int]]] = {}
    raw: list[tuple[str, int, int, str, list[str]]] = []

    def free(person: str, date: str, start: int, end: int) -> bool:
        return not any(_overlaps(start, end, s, e) for s, e in busy.get((person, date), []))

    def add(date: str, start: int, end: int, title: str, attendees: list[str]) -> None:
        for person in attendees:
            busy.setdefault((person, date), []).append((start, end))
        raw.append((date, start, end, title, attendees))

    for date in DATES:
        add(date, 9 * 60 + 30, 9 * 60 + 45, "Platform standup", list(platform))
        for _ in range(14):
            for _attempt in range(20):
                start = rng.randrange(DAY_START, DAY_END - 30, 30)
                end = min(start + rng.choice([30, 30, 60, 60, 90]), DAY_END)
                attendees = sorted(rng.sample(ids, rng.choice([1, 2, 2, 3, 4])))
                if all(free(p, date, start, end) for p in attendees):
                    add(date, start, end, rng.choice(_TITLES), attendees)
                    break
    raw.sort(key=lambda m: (m[0], m[1], m[2], m[3]))
    return [
        {
            "meeting_id": f"M-{i + 1:03d}",
            "title": title,
            "date": date,
            "start": _hhmm(start),
            "end": _hhmm(end),
            "attendees": attendees,
        }
        for i, (date, start, end, title, attendees) in enumerate(raw)
    ]


MEETINGS: list[dict[str, Any]] = _generate()


def make_functions() -> dict[str, Callable[..., Any]]:
    """Fresh functions over a fresh copy of the calendar (bookings stay in this copy)."""
    meetings = copy.deepcopy(MEETINGS)
    lock = threading.Lock()
    known = {p["id"] for p in PEOPLE}

    def _check(person: str, date: str) -> None:
        if person not in known:
            raise KeyError(f"no person with id {person!r}; ids are lowercase first names, see list_people()")
        if date not in DATES:
            raise ValueError(f"date {date!r} is outside the calendar week 2024-09-09 to 2024-09-13")

    def _of(person: str, date: str) -> list[dict[str, Any]]:
        with lock:
            mine = [copy.deepcopy(m) for m in meetings if m["date"] == date and person in m["attendees"]]
        return sorted(mine, key=lambda m: (m["start"], m["end"]))

    def list_people(team: str | None = None) -> list[dict[str, Any]]:
        """The people whose calendars we can see, optionally only one `team` ("Platform",
        "Design", "Sales" or "Data"). Each person is a dict with id (their lowercase first
        name, used by the other functions), name, team and email."""
        return [dict(p) for p in PEOPLE if team is None or p["team"].lower() == team.lower()]

    def get_meetings(person: str, date: str) -> list[dict[str, Any]]:
        """The meetings of `person` (an id such as "alice") on `date` (YYYY-MM-DD, within
        2024-09-09 to 2024-09-13), in start-time order. Each meeting is a dict with
        meeting_id, title, date, start and end (HH:MM, 24-hour) and attendees (a list of ids)."""
        _check(person, date)
        return _of(person, date)

    def get_meeting(meeting_id: str) -> dict[str, Any]:
        """One meeting by id (fields as in get_meetings). Raises KeyError for an unknown id."""
        with lock:
            for m in meetings:
                if m["meeting_id"] == meeting_id:
                    return copy.deepcopy(m)
        raise KeyError(f"no meeting {meeting_id!r}")

    def get_free_slots(person: str, date: str, min_minutes: int = 30) -> list[dict[str, Any]]:
        """The free intervals of `person` on `date` within working hours 09:00-17:00 that
        last at least `min_minutes`, in time order, each a dict {start, end} (HH:MM)."""
        _check(person, date)
        slots: list[dict[str, Any]] = []
        cursor = DAY_START
        for m in _of(person, date):
            start, end = _minutes(m["start"]), _minutes(m["end"])
            if start - cursor >= min_minutes:
                slots.append({"start": _hhmm(cursor), "end": _hhmm(start)})
            cursor = max(cursor, end)
        if DAY_END - cursor >= min_minutes:
            slots.append({"start": _hhmm(cursor), "end": _hhmm(DAY_END)})
        return slots

    def book_meeting(title: str, attendees: list[str], date: str, start: str, end: str) -> dict[str, Any]:
        """Book a meeting for `attendees` (ids) on `date` from `start` to `end` (HH:MM,
        within 09:00-17:00) and return it (fields as in get_meetings). Raises ValueError
        if any attendee already has a meeting overlapping that time."""
        for person in attendees:
            _check(person, date)
        s, e = _minutes(start), _minutes(end)
        if not (DAY_START <= s < e <= DAY_END):
            raise ValueError(f"{start}-{end} is not a valid time within working hours 09:00-17:00")
        with lock:
            for m in meetings:
                if m["date"] != date or not _overlaps(s, e, _minutes(m["start"]), _minutes(m["end"])):
                    continue
                clash = sorted(set(attendees) & set(m["attendees"]))
                if clash:
                    raise ValueError(
                        f"conflict: {', '.join(clash)} already in {m['title']!r} {m['start']}-{m['end']}"
                    )
            meeting = {
                "meeting_id": f"M-{len(meetings) + 1:03d}",
                "title": title,
                "date": date,
                "start": _hhmm(s),
                "end": _hhmm(e),
                "attendees": sorted(attendees),
            }
            meetings.append(meeting)
        return copy.deepcopy(meeting)

    return {f.__name__: f for f in (list_people, get_meetings, get_meeting, get_free_slots, book_meeting)}
