"""Documents domain: a small company document store (incident postmortems, policies,
meeting notes, design docs) with keyword search, metadata and full text.

All documents are literal data below; ids run DOC-001 to DOC-039.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

__all__ = ["DOCUMENTS", "make_functions"]

# service, minutes, date, cause, fix, author
_INCIDENTS: list[tuple[str, int, str, str, str, str]] = [
    (
        "payments",
        47,
        "2024-01-18",
        "an expired TLS certificate on the card gateway",
        "automated renewal",
        "Priya Natarajan",
    ),
    (
        "search",
        132,
        "2024-02-03",
        "a Kubernetes node pool ran out of memory",
        "raised pod memory limits",
        "Tomasz Wojcik",
    ),
    (
        "checkout",
        18,
        "2024-02-27",
        "a bad feature flag rollout",
        "flag kill switch in the runbook",
        "Sara Lindqvist",
    ),
    ("auth", 64, "2024-03-12", "a misconfigured rate limiter", "per-tenant limits", "Priya Natarajan"),
    (
        "notifications",
        210,
        "2024-03-30",
        "a full message queue disk",
        "disk alerts at 70 percent",
        "Miguel Ortega",
    ),
    ("search", 39, "2024-04-22", "a slow index migration", "online index builds", "Tomasz Wojcik"),
    (
        "billing",
        95,
        "2024-05-09",
        "a database failover that did not promote the replica",
        "failover drills",
        "Sara Lindqvist",
    ),
    (
        "payments",
        12,
        "2024-06-01",
        "a DNS change with a long TTL",
        "lower TTLs before changes",
        "Miguel Ortega",
    ),
    (
        "storage",
        187,
        "2024-06-19",
        "a firmware bug on two disk controllers",
        "staged firmware upgrades",
        "Aisha Bello",
    ),
    (
        "api-gateway",
        251,
        "2024-07-08",
        "a memory leak in the new routing module",
        "a canary stage for gateway releases",
        "Priya Natarajan",
    ),
    ("reporting", 76, "2024-08-14", "a runaway analytics query", "query timeouts", "Aisha Bello"),
    ("auth", 23, "2024-09-02", "a clock skew between token servers", "NTP monitoring", "Tomasz Wojcik"),
]

# title, author, created, updated, version, body
_POLICIES: list[tuple[str, str, str, str, str, str]] = [
    (
        "Remote work policy",
        "Hannah Schmidt",
        "2022-03-01",
        "2024-02-15",
        "3.1",
        "Employees may work remotely up to four days a week. Core hours are 10:00 to 15:00 in the "
        "employee's time zone. Managers approve fully remote arrangements. Home office equipment is "
        "reimbursed up to 500 euros every three years.",
    ),
    (
        "Travel expense policy",
        "Hannah Schmidt",
        "2021-06-10",
        "2024-07-01",
        "5.0",
        "Book economy class for flights under six hours. Hotels must stay within the city rate cap. "
        "Submit receipts within thirty days of travel. Meals are reimbursed up to 60 euros per day.",
    ),
    (
        "Information security policy",
        "Priya Natarajan",
        "2020-11-05",
        "2024-05-20",
        "7.2",
        "All laptops use full disk encryption. Passwords are stored only in the company password "
        "manager. Multi-factor authentication is required for every internal system. Report lost "
        "devices to security within one hour.",
    ),
    (
        "Data retention policy",
        "Miguel Ortega",
        "2021-01-20",
        "2023-11-30",
        "2.4",
        "Customer data is deleted ninety days after account closure. Logs are kept for thirteen "
        "months. Backups are kept for thirty five days. Legal holds override these periods.",
    ),
    (
        "On-call policy",
        "Tomasz Wojcik",
        "2022-09-14",
        "2024-03-03",
        "1.8",
        "Engineers join the on-call rotation after three months. A rotation lasts one week. "
        "Pages must be acknowledged within fifteen minutes. On-call weeks earn one extra day off.",
    ),
    (
        "Parental leave policy",
        "Hannah Schmidt",
        "2019-04-01",
        "2023-09-01",
        "4.0",
        "All parents receive twenty weeks of paid leave. Leave can be split into up to three blocks "
        "within the first two years. A phased return of half days is available for four weeks.",
    ),
    (
        "Code review policy",
        "Sara Lindqvist",
        "2021-08-23",
        "2024-06-12",
        "2.0",
        "Every change needs one approving review. Changes to payments or auth need two. Reviews "
        "should be done within one working day. Authors may not approve their own changes.",
    ),
    (
        "Incident response policy",
        "Priya Natarajan",
        "2020-02-17",
        "2024-08-05",
        "6.3",
        "The first responder declares severity. Severity one incidents page the incident commander. "
        "A postmortem is written within five working days of every severity one or two incident. "
        "Postmortems are blameless.",
    ),
    (
        "Open source contribution policy",
        "Aisha Bello",
        "2023-02-02",
        "2023-02-02",
        "1.0",
        "Contributions to open source projects on company time are encouraged. Check the license "
        "list before contributing. Do not publish internal code without approval from legal.",
    ),
    (
        "Vendor access policy",
        "Miguel Ortega",
        "2022-12-12",
        "2024-01-09",
        "1.3",
        "Vendors receive time limited accounts. Access is reviewed every quarter. Vendors never "
        "receive production database credentials. Kubernetes cluster access requires a named sponsor.",
    ),
]

# title, author, created, tags, body
_NOTES: list[tuple[str, str, str, list[str], str]] = [
    (
        "Platform weekly 2024-01-08",
        "Tomasz Wojcik",
        "2024-01-08",
        ["meeting-notes", "platform"],
        "Agreed to move the search cluster to Kubernetes in Q2. Bob owns the capacity plan. "
        "Action: draft the migration design doc.",
    ),
    (
        "Platform weekly 2024-02-05",
        "Tomasz Wojcik",
        "2024-02-05",
        ["meeting-notes", "platform"],
        "Reviewed the search outage. Node pool sizing was too small. Action: add memory alerts.",
    ),
    (
        "Sales kickoff notes",
        "Hannah Schmidt",
        "2024-01-22",
        ["meeting-notes", "sales"],
        "Targets for the year were shared. New pricing launches in March. Action: update the deck.",
    ),
    (
        "Design sync 2024-03-14",
        "Sara Lindqvist",
        "2024-03-14",
        ["meeting-notes", "design"],
        "Checkout redesign reviewed. Accessibility audit scheduled for April. Action: fix contrast issues.",
    ),
    (
        "Platform weekly 2024-04-15",
        "Priya Natarajan",
        "2024-04-15",
        ["meeting-notes", "platform"],
        "Kubernetes migration for search is half done. Index migration caused a short outage. "
        "Action: use online index builds.",
    ),
    (
        "Data team retro Q2",
        "Aisha Bello",
        "2024-07-03",
        ["meeting-notes", "data"],
        "The reporting pipeline is too slow. Storage costs rose by twelve percent. "
        "Action: add query timeouts.",
    ),
    (
        "Security review 2024-05-21",
        "Priya Natarajan",
        "2024-05-21",
        ["meeting-notes", "security"],
        "Multi-factor authentication rollout finished. Vendor accounts audited. Action: quarterly reviews.",
    ),
    (
        "Platform weekly 2024-08-19",
        "Miguel Ortega",
        "2024-08-19",
        ["meeting-notes", "platform"],
        "Gateway canary stage is live. Reporting query timeouts shipped. Action: retire the old router.",
    ),
    (
        "All hands 2024-09-06",
        "Hannah Schmidt",
        "2024-09-06",
        ["meeting-notes", "company"],
        "Revenue grew eighteen percent year over year. Two new offices open in 2025. Action: none.",
    ),
]

# title, author, created, tags, body
_DESIGNS: list[tuple[str, str, str, list[str], str]] = [
    (
        "Design: search on Kubernetes",
        "Tomasz Wojcik",
        "2024-01-25",
        ["design", "platform"],
        "Move the search cluster from virtual machines to Kubernetes. Use a dedicated node pool with "
        "memory optimised nodes. Roll out one shard at a time.",
    ),
    (
        "Design: payment retries",
        "Priya Natarajan",
        "2024-03-02",
        ["design", "payments"],
        "Retry failed card payments with exponential backoff, at most three times, and never for "
        "hard declines. Idempotency keys prevent double charges.",
    ),
    (
        "Design: event bus",
        "Miguel Ortega",
        "2024-04-09",
        ["design", "platform"],
        "Replace the notification queue with a partitioned event bus running on Kubernetes. Consumers "
        "track their own offsets. Disk usage alerts fire at 70 percent.",
    ),
    (
        "Design: data warehouse v2",
        "Aisha Bello",
        "2024-05-28",
        ["design", "data"],
        "Move reporting to a columnar warehouse. Queries get a 60 second timeout. Nightly loads replace "
        "the hourly batch.",
    ),
    (
        "Design: gateway routing module",
        "Priya Natarajan",
        "2024-06-11",
        ["design", "platform"],
        "A new routing module for the api gateway with hot reload of routes. Ships behind a canary "
        "stage after the July incident.",
    ),
    (
        "Design: checkout redesign",
        "Sara Lindqvist",
        "2024-02-20",
        ["design", "checkout"],
        "A single page checkout with address autocomplete. Feature flags gate each step.",
    ),
    (
        "Design: token service",
        "Tomasz Wojcik",
        "2024-08-30",
        ["design", "auth"],
        "Short lived tokens signed by a central service. Servers must keep clocks in sync; NTP drift "
        "above 500 ms raises an alert.",
    ),
    (
        "Design: mobile offline mode",
        "Sara Lindqvist",
        "2024-09-10",
        ["design", "mobile"],
        "Cache the last seven days of orders on the device and sync when back online.",
    ),
]


def _build() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []

    def add(
        title: str, author: str, created: str, updated: str, version: str, tags: list[str], body: str
    ) -> None:
        docs.append(
            {
                "doc_id": f"DOC-{len(docs) + 1:03d}",
                "title": title,
                "author": author,
                "created": created,
                "updated": updated,
                "version": version,
                "tags": tags,
                "body": body,
            }
        )

    for i, (service, minutes, date, cause, fix, author) in enumerate(_INCIDENTS):
        add(
            f"Postmortem: {service} outage on {date}",
            author,
            date,
            date,
            "1.0",
            ["incident", "postmortem", service],
            f"Incident INC-{1040 + i}. The {service} service was unavailable for {minutes} minutes on "
            f"{date}. Root cause: {cause}. Remediation: {fix}. Customer impact was reviewed and the "
            f"status page was updated.",
        )
    for title, author, created, updated, version, body in _POLICIES:
        add(title, author, created, updated, version, ["policy"], body)
    for title, author, created, tags, body in _NOTES:
        add(title, author, created, created, "1.0", tags, body)
    for title, author, created, tags, body in _DESIGNS:
        add(title, author, created, created, "1.0", tags, body)
    for doc in docs:
        doc["word_count"] = len(doc["body"].split())
    return docs


DOCUMENTS: list[dict[str, Any]] = _build()

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def make_functions() -> dict[str, Callable[..., Any]]:
    """Fresh functions over the document store (read-only)."""
    docs = copy.deepcopy(DOCUMENTS)

    def _find(doc_id: str) -> dict[str, Any]:
        for d in docs:
            if d["doc_id"] == doc_id.strip().upper():
                return d
        raise KeyError(f"no document {doc_id!r}")

    def _meta(d: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in d.items() if k != "body"}

    def search_documents(query: str, limit: int = 5) -> list[dict[str, Any]]:
        """Keyword search over titles and bodies (case-insensitive; a document matches when it
        contains every word of `query`). Returns at most `limit` hits, best first, each a dict
        with doc_id, title and snippet (the text around the first match)."""
        words = _WORD.findall(query.lower())
        if not words:
            raise ValueError("query has no words")
        hits: list[tuple[int, str, dict[str, Any]]] = []
        for d in docs:
            text = f"{d['title']} {d['body']}".lower()
            tokens = _WORD.findall(text)
            if all(w in tokens for w in words):
                score = sum(tokens.count(w) for w in words)
                hits.append((-score, d["doc_id"], d))
        hits.sort(key=lambda h: (h[0], h[1]))
        out: list[dict[str, Any]] = []
        for _, _, d in hits[: max(limit, 0)]:
            body = d["body"]
            at = body.lower().find(words[0])
            at = max(at, 0)
            start = max(at - 40, 0)
            snippet = (
                ("..." if start else "") + body[start : at + 60] + ("..." if at + 60 < len(body) else "")
            )
            out.append({"doc_id": d["doc_id"], "title": d["title"], "snippet": snippet})
        return out

    def get_document(doc_id: str) -> dict[str, Any]:
        """One document in full: a dict with doc_id, title, author, created and updated
        (YYYY-MM-DD), version, tags, word_count and body (the text)."""
        return copy.deepcopy(_find(doc_id))

    def get_metadata(doc_id: str) -> dict[str, Any]:
        """A document's metadata without its text: doc_id, title, author, created, updated
        (YYYY-MM-DD), version, tags and word_count."""
        return _meta(_find(doc_id))

    def list_documents(tag: str | None = None, author: str | None = None) -> list[dict[str, Any]]:
        """The documents, optionally only those with `tag` (e.g. "incident", "policy",
        "meeting-notes", "design") and/or by `author` (full name). Each is a dict with doc_id
        and title only; use get_metadata or get_document for more."""
        return [
            {"doc_id": d["doc_id"], "title": d["title"]}
            for d in docs
            if (tag is None or tag in d["tags"]) and (author is None or d["author"] == author)
        ]

    return {f.__name__: f for f in (search_documents, get_document, get_metadata, list_documents)}
