"""Enterprise domain: a company's internal API with a large catalog (120 small typed functions).

The point of this domain is the size of the catalog, not the difficulty of the tasks: an
agent is offered every function (the tasks say `catalog: domain`), as it would be by a
real enterprise API, and has to find the few a question needs. That makes the cost of
the tool definitions visible: tools mode sends 120 definitions with every request, code
mode one `run_code` whose description carries the whole catalog (or, with
`catalog="search"`, only names and one-line summaries).

The data (offices, departments, 200 employees, projects, timesheets, customers, invoices,
payments, vendors, purchase orders, tickets, products, assets, contracts, expenses,
licenses, leave, trainings) is generated once from a fixed seed. Most functions are
generated from a table of entities (`list_*`, `get_*`, `count_*`, `search_*`, `total_*`
and one function per foreign key, e.g. `invoices_for_customer`); about twenty more are
written out by hand (currency conversion, balances, payroll, utilization, ...). All are
read-only, so a run has no state to reset; each function returns copies.
"""

from __future__ import annotations

import datetime as dt
import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["DATA", "make_functions"]

_SEED = 20240917
_rng = random.Random(_SEED)

_FIRST = [
    "Aino", "Bruno", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kaja", "Luca",
    "Maren", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tariq", "Ulla", "Viktor", "Wanda", "Xavier",
    "Yara", "Zeno", "Amira", "Bram", "Clara", "Dario",
]  # fmt: skip
_LAST = [
    "Andersen", "Berg", "Costa", "Dahl", "Eriksen", "Fischer", "Garcia", "Horvath", "Ivanova", "Jansen",
    "Keller", "Lindqvist", "Moreau", "Novak", "Olsen", "Petrov", "Quist", "Rossi", "Schmidt", "Toth",
    "Urban", "Vogel", "Weber", "Yilmaz", "Zimmer",
]  # fmt: skip

CURRENCIES = ("EUR", "USD", "GBP")
_EUR_PER = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17}
"""Fixed exchange rates: euros per unit of each currency."""

_HOLIDAYS: dict[str, list[str]] = {
    "DE": ["2024-01-01", "2024-03-29", "2024-04-01", "2024-05-01", "2024-05-09", "2024-05-20",
           "2024-10-03", "2024-12-25", "2024-12-26"],
    "FR": ["2024-01-01", "2024-04-01", "2024-05-01", "2024-05-08", "2024-05-09", "2024-05-20",
           "2024-07-14", "2024-08-15", "2024-11-01", "2024-11-11", "2024-12-25"],
    "NL": ["2024-01-01", "2024-03-29", "2024-04-01", "2024-04-27", "2024-05-09", "2024-05-20",
           "2024-12-25", "2024-12-26"],
    "SE": ["2024-01-01", "2024-01-06", "2024-03-29", "2024-04-01", "2024-05-01", "2024-05-09",
           "2024-06-06", "2024-06-21", "2024-12-24", "2024-12-25", "2024-12-26", "2024-12-31"],
    "US": ["2024-01-01", "2024-01-15", "2024-02-19", "2024-05-27", "2024-06-19", "2024-07-04",
           "2024-09-02", "2024-11-28", "2024-12-25"],
    "GB": ["2024-01-01", "2024-03-29", "2024-04-01", "2024-05-06", "2024-05-27", "2024-08-26",
           "2024-12-25", "2024-12-26"],
}  # fmt: skip


_SUBJECTS = [
    "Login fails", "Slow dashboard", "Export broken", "Billing question", "API timeout", "Data mismatch",
    "Feature request", "SSO setup", "Webhook errors", "Quota exceeded",
]  # fmt: skip


def _date(start: dt.date, end: dt.date) -> str:
    return (start + dt.timedelta(days=_rng.randint(0, (end - start).days))).isoformat()


def _plus(day: str, days: int) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=days)).isoformat()


def _generate() -> dict[str, list[dict[str, Any]]]:
    """Every table, generated in a fixed order from one seeded generator."""
    y2024 = (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    offices = [
        {"id": i + 1, "city": city, "country": country, "region": region, "capacity": cap}
        for i, (city, country, region, cap) in enumerate(
            [
                ("Berlin", "DE", "EMEA", 140),
                ("Munich", "DE", "EMEA", 60),
                ("Paris", "FR", "EMEA", 50),
                ("Amsterdam", "NL", "EMEA", 45),
                ("Stockholm", "SE", "EMEA", 30),
                ("London", "GB", "EMEA", 40),
                ("New York", "US", "AMER", 55),
                ("Austin", "US", "AMER", 35),
            ]
        )
    ]
    dept_names = [
        ("Platform Engineering", "CC-110"),
        ("Product Engineering", "CC-120"),
        ("Data Science", "CC-130"),
        ("Sales", "CC-210"),
        ("Customer Success", "CC-220"),
        ("Marketing", "CC-230"),
        ("Finance", "CC-310"),
        ("People", "CC-320"),
        ("Legal", "CC-330"),
        ("IT Operations", "CC-140"),
    ]
    titles = {1: "Associate", 2: "Specialist", 3: "Senior Specialist", 4: "Lead", 5: "Manager", 6: "Director"}
    employees: list[dict[str, Any]] = []
    used_names: set[str] = set()
    for i in range(200):
        while True:
            name = f"{_rng.choice(_FIRST)} {_rng.choice(_LAST)}"
            if name not in used_names:
                used_names.add(name)
                break
        level = _rng.choices([1, 2, 3, 4, 5, 6], weights=[20, 30, 25, 12, 9, 4])[0]
        employees.append(
            {
                "id": i + 1,
                "name": name,
                "email": name.lower().replace(" ", ".") + "@acme.example",
                "department_id": i % len(dept_names) + 1,
                "office_id": _rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 6, 7, 8]),
                "title": titles[level],
                "level": level,
                "salary_eur": 38000 + level * 14000 + _rng.randint(0, 40) * 500,
                "manager_id": None,
                "hire_date": _date(dt.date(2014, 1, 1), dt.date(2024, 6, 30)),
                "active": _rng.random() > 0.08,
            }
        )
    departments: list[dict[str, Any]] = []
    for d, (dname, cost_center) in enumerate(dept_names, start=1):
        members = sorted(
            (e for e in employees if e["department_id"] == d), key=lambda e: (-e["level"], e["id"])
        )
        head = members[0]
        head["active"] = True
        for e in members[1:]:
            seniors = [m for m in members if m["level"] > e["level"] and m["id"] != e["id"]]
            e["manager_id"] = (seniors[-1] if seniors else head)["id"]
        departments.append(
            {
                "id": d,
                "name": dname,
                "cost_center": cost_center,
                "head_id": head["id"],
                "budget_eur": 1_000_000 + _rng.randint(0, 40) * 50_000,
            }
        )
    project_names = [
        "Atlas", "Borealis", "Cobalt", "Delta", "Ember", "Fjord", "Granite", "Helix", "Iris", "Juniper",
        "Kestrel", "Lumen", "Meridian", "Nimbus", "Orion", "Pulsar", "Quartz", "Relay", "Sierra", "Tundra",
    ]  # fmt: skip
    projects: list[dict[str, Any]] = []
    for i, pname in enumerate(project_names, start=1):
        dept = _rng.choice([1, 1, 2, 2, 3, 10, 4, 6])
        start = _date(dt.date(2023, 6, 1), dt.date(2024, 6, 1))
        leads = [e for e in employees if e["department_id"] == dept and e["level"] >= 4]
        projects.append(
            {
                "id": i,
                "code": pname.upper()[:3] + f"-{i:02d}",
                "name": pname,
                "department_id": dept,
                "status": _rng.choice(["active"] * 4 + ["planned", "done", "cancelled"]),
                "budget_eur": _rng.randint(4, 60) * 10_000,
                "lead_id": _rng.choice(leads)["id"],
                "start_date": start,
                "end_date": _plus(start, _rng.randint(120, 540)),
            }
        )
    assignments: list[dict[str, Any]] = []
    for p in projects:
        pool = [e for e in employees if e["active"]]
        for e in _rng.sample(pool, _rng.randint(3, 7)):
            assignments.append(
                {
                    "id": len(assignments) + 1,
                    "project_id": p["id"],
                    "employee_id": e["id"],
                    "role": _rng.choice(["contributor", "contributor", "reviewer", "owner"]),
                    "allocation_pct": _rng.choice([20, 25, 40, 50, 60, 80, 100]),
                }
            )
    timesheets: list[dict[str, Any]] = []
    first_monday = dt.date(2024, 7, 1)
    for a in assignments:
        for week in range(26):
            if _rng.random() < 0.2:
                continue
            hours = round(40 * a["allocation_pct"] / 100 * _rng.uniform(0.6, 1.1) * 2) / 2
            timesheets.append(
                {
                    "id": len(timesheets) + 1,
                    "employee_id": a["employee_id"],
                    "project_id": a["project_id"],
                    "date": (first_monday + dt.timedelta(weeks=week)).isoformat(),
                    "hours": hours,
                }
            )
    company_words = [
        "Nordwind", "Helios", "Brightwater", "Kite", "Ironbark", "Lindenhof", "Moss", "Northstar", "Oakridge",
        "Pioneer", "Quayside", "Riverbend", "Saltmarsh", "Tidewater", "Uplands", "Vanguard", "Westfall",
        "Yellowpine", "Zephyr", "Alder",
    ]  # fmt: skip
    suffixes = ["Logistics", "Health", "Retail", "Energy", "Media", "Foods", "Bank", "Motors"]
    industries = {
        "Logistics": "logistics",
        "Health": "healthcare",
        "Retail": "retail",
        "Energy": "energy",
        "Media": "media",
        "Foods": "food",
        "Bank": "finance",
        "Motors": "automotive",
    }
    sales = [e for e in employees if e["department_id"] in (4, 5) and e["active"]]
    customers: list[dict[str, Any]] = []
    for i in range(40):
        suffix = suffixes[i % len(suffixes)]
        cname = f"{company_words[i % len(company_words)]} {suffix}"
        if i >= len(company_words):
            cname += " Group"
        customers.append(
            {
                "id": i + 1,
                "name": cname,
                "industry": industries[suffix],
                "country": _rng.choice(["DE", "DE", "FR", "NL", "SE", "GB", "US", "US"]),
                "tier": _rng.choice(["enterprise", "business", "business", "starter"]),
                "account_manager_id": _rng.choice(sales)["id"],
            }
        )
    invoices: list[dict[str, Any]] = []
    payments: list[dict[str, Any]] = []
    for i in range(300):
        issued = _date(dt.date(2024, 1, 1), dt.date(2024, 12, 15))
        amount = round(_rng.uniform(800, 48000), 2)
        status = _rng.choice(["paid"] * 5 + ["sent", "sent", "partially_paid", "void"])
        invoice = {
            "id": 5001 + i,
            "customer_id": _rng.randint(1, len(customers)),
            "issued": issued,
            "due": _plus(issued, _rng.choice([14, 30, 30, 45, 60])),
            "amount": amount,
            "currency": _rng.choice(["EUR", "EUR", "EUR", "USD", "GBP"]),
            "status": status,
        }
        invoices.append(invoice)
        if status in ("paid", "partially_paid"):
            part = amount if status == "paid" else round(amount * _rng.choice([0.25, 0.5, 0.75]), 2)
            payments.append(
                {
                    "id": len(payments) + 1,
                    "invoice_id": invoice["id"],
                    "date": _plus(issued, _rng.randint(5, 70)),
                    "amount": part,
                    "method": _rng.choice(["transfer", "transfer", "card", "direct_debit"]),
                }
            )
    vendors = [
        {
            "id": i + 1,
            "name": name,
            "category": category,
            "country": country,
            "rating": _rng.randint(2, 5),
        }
        for i, (name, category, country) in enumerate(
            [
                ("Cloudreach Hosting", "cloud", "US"),
                ("Stratus Compute", "cloud", "DE"),
                ("Nimbus Storage", "cloud", "NL"),
                ("Deskworks", "office", "DE"),
                ("Papyrus Supplies", "office", "FR"),
                ("Travelink", "travel", "GB"),
                ("SkyWays Travel", "travel", "SE"),
                ("CodeSmith Tools", "software", "US"),
                ("Ledgerly", "software", "NL"),
                ("SecureNet", "security", "DE"),
                ("Guardian Audit", "security", "GB"),
                ("TalentBridge", "recruiting", "DE"),
                ("LearnPath Academy", "training", "SE"),
                ("Brightlane Legal", "legal", "FR"),
                ("Hardline Devices", "hardware", "US"),
                ("Circuit Depot", "hardware", "DE"),
                ("Greenfield Catering", "facilities", "DE"),
                ("Metro Cleaning", "facilities", "FR"),
                ("Signal Telecom", "telecom", "NL"),
                ("Parcel Express", "logistics", "DE"),
            ]
        )
    ]
    purchase_orders = [
        {
            "id": 9001 + i,
            "vendor_id": _rng.randint(1, len(vendors)),
            "department_id": _rng.randint(1, len(departments)),
            "date": _date(*y2024),
            "amount": round(_rng.uniform(300, 60000), 2),
            "currency": _rng.choice(["EUR", "EUR", "USD", "GBP"]),
            "status": _rng.choice(["approved"] * 4 + ["pending", "rejected"]),
        }
        for i in range(120)
    ]
    products = [
        {"id": i + 1, "sku": sku, "name": name, "line": line, "list_price_eur": price}
        for i, (sku, name, line, price) in enumerate(
            [
                ("ACM-CORE", "Acme Core", "platform", 12000),
                ("ACM-FLOW", "Acme Flow", "platform", 18000),
                ("ACM-VAULT", "Acme Vault", "security", 9000),
                ("ACM-GUARD", "Acme Guard", "security", 15000),
                ("ACM-LENS", "Acme Lens", "analytics", 11000),
                ("ACM-PULSE", "Acme Pulse", "analytics", 7000),
                ("ACM-LINK", "Acme Link", "integration", 5000),
                ("ACM-SYNC", "Acme Sync", "integration", 6500),
                ("ACM-DESK", "Acme Desk", "support", 4000),
                ("ACM-CHAT", "Acme Chat", "support", 3000),
                ("ACM-EDGE", "Acme Edge", "platform", 22000),
                ("ACM-MAP", "Acme Map", "analytics", 8000),
            ]
        )
    ]
    support = [e for e in employees if e["department_id"] == 5 and e["active"]]
    tickets: list[dict[str, Any]] = []
    for i in range(250):
        opened = _date(*y2024)
        status = _rng.choice(["open", "open", "pending", "resolved", "resolved", "closed", "closed"])
        closed = _plus(opened, _rng.randint(0, 40)) if status in ("resolved", "closed") else None
        tickets.append(
            {
                "id": 70001 + i,
                "customer_id": _rng.randint(1, len(customers)),
                "product_id": _rng.randint(1, len(products)),
                "assignee_id": _rng.choice(support)["id"],
                "priority": _rng.choice(["low", "low", "medium", "medium", "high", "urgent"]),
                "status": status,
                "opened": opened,
                "closed": closed,
                "subject": _rng.choice(_SUBJECTS),
            }
        )
    kinds = {"laptop": 1800.0, "monitor": 320.0, "phone": 750.0, "headset": 180.0, "dock": 240.0}
    assets: list[dict[str, Any]] = []
    for i in range(150):
        kind = _rng.choice(list(kinds))
        owner = _rng.choice(employees)
        assets.append(
            {
                "id": i + 1,
                "tag": f"AS-{10000 + i * 7}",
                "kind": kind,
                "employee_id": owner["id"],
                "office_id": owner["office_id"],
                "purchased": _date(dt.date(2020, 1, 1), dt.date(2024, 11, 30)),
                "cost_eur": round(kinds[kind] * _rng.uniform(0.85, 1.25), 2),
            }
        )
    contracts: list[dict[str, Any]] = []
    for i in range(60):
        start = _date(dt.date(2022, 1, 1), dt.date(2024, 12, 1))
        end = _plus(start, _rng.choice([365, 730, 1095]))
        contracts.append(
            {
                "id": 3001 + i,
                "customer_id": _rng.randint(1, len(customers)),
                "product_id": _rng.randint(1, len(products)),
                "value_eur": _rng.randint(5, 120) * 1000,
                "start_date": start,
                "end_date": end,
                "status": "active" if start <= "2024-12-31" < end else "expired",
            }
        )
    expenses = [
        {
            "id": i + 1,
            "employee_id": _rng.randint(1, len(employees)),
            "category": _rng.choice(["travel", "travel", "meals", "software", "training", "equipment"]),
            "amount_eur": round(_rng.uniform(12, 2400), 2),
            "date": _date(*y2024),
            "status": _rng.choice(["submitted", "approved", "approved", "reimbursed", "rejected"]),
        }
        for i in range(320)
    ]
    software = [
        ("Figma", 8), ("Jira", 8), ("Slack", 8), ("GitHub", 8), ("Salesforce", 9), ("Zoom", 19),
        ("Notion", 9), ("Datadog", 1), ("Okta", 10), ("Tableau", 5), ("Miro", 4), ("1Password", 10),
        ("Adobe CC", 4), ("DocuSign", 14), ("Workday", 12),
    ]  # fmt: skip
    licenses: list[dict[str, Any]] = []
    for i, (sw, vendor_id) in enumerate(software):
        seats = _rng.choice([10, 25, 50, 100, 150, 200])
        licenses.append(
            {
                "id": i + 1,
                "software": sw,
                "vendor_id": vendor_id,
                "seats": seats,
                "seats_used": _rng.randint(seats // 5, seats),
                "renewal_date": _date(dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
                "annual_cost_eur": seats * _rng.choice([60, 96, 120, 180, 240]),
            }
        )
    leave_requests: list[dict[str, Any]] = []
    for i in range(160):
        start = _date(*y2024)
        days = _rng.randint(1, 10)
        leave_requests.append(
            {
                "id": i + 1,
                "employee_id": _rng.randint(1, len(employees)),
                "kind": _rng.choice(["vacation", "vacation", "vacation", "sick", "parental"]),
                "start_date": start,
                "days": days,
                "status": _rng.choice(["approved", "approved", "approved", "pending", "rejected"]),
            }
        )
    trainings = [
        {"id": i + 1, "title": title, "vendor_id": 13, "hours": hours, "cost_eur": cost}
        for i, (title, hours, cost) in enumerate(
            [
                ("Secure Coding", 8, 450),
                ("Leading Teams", 16, 1200),
                ("Negotiation Basics", 6, 380),
                ("Cloud Architecture", 24, 1900),
                ("Data Privacy (GDPR)", 4, 220),
                ("Effective Writing", 6, 300),
                ("SQL for Analysts", 12, 640),
                ("Incident Response", 8, 520),
            ]
        )
    ]
    enrollments: list[dict[str, Any]] = []
    for i in range(140):
        status = _rng.choice(["enrolled", "completed", "completed", "dropped"])
        enrollments.append(
            {
                "id": i + 1,
                "training_id": _rng.randint(1, len(trainings)),
                "employee_id": _rng.randint(1, len(employees)),
                "status": status,
                "completed_on": _date(*y2024) if status == "completed" else None,
            }
        )
    return {
        "offices": offices,
        "departments": departments,
        "employees": employees,
        "projects": projects,
        "assignments": assignments,
        "timesheets": timesheets,
        "customers": customers,
        "invoices": invoices,
        "payments": payments,
        "vendors": vendors,
        "purchase_orders": purchase_orders,
        "products": products,
        "tickets": tickets,
        "assets": assets,
        "contracts": contracts,
        "expenses": expenses,
        "licenses": licenses,
        "leave_requests": leave_requests,
        "trainings": trainings,
        "enrollments": enrollments,
    }


DATA: dict[str, list[dict[str, Any]]] = _generate()
"""Every table by name; rows are plain dicts. Read-only: functions return copies."""


# -- the entity table the generic functions are generated from --------------------------------

_Op = Literal["eq", "from", "to"]


@dataclass(frozen=True)
class _Filter:
    param: str
    annotation: Any
    field: str
    op: _Op
    doc: str


def _eq(param: str, annotation: Any, doc: str, field: str | None = None) -> _Filter:
    return _Filter(param, annotation, field or param, "eq", doc)


def _range(field: str, what: str) -> tuple[_Filter, _Filter]:
    return (
        _Filter(
            f"{field}_from", str | None, field, "from", f"only {what} on or after this date (YYYY-MM-DD)"
        ),
        _Filter(f"{field}_to", str | None, field, "to", f"only {what} on or before this date (YYYY-MM-DD)"),
    )


@dataclass(frozen=True)
class _Entity:
    table: str
    singular: str
    noun: str
    fields: str
    """The fields of one row, as the docstrings describe them."""
    filters: tuple[_Filter, ...] = ()
    search: str | None = None
    """The text field `search_<table>` matches, if any."""
    total: tuple[str, str, str] | None = None
    """(function name, numeric field, what it sums) of a `total_*` function, if any."""
    links: tuple[tuple[str, str, str], ...] = ()
    """(function name, foreign key field, what the key names) of the one-key list functions."""
    plural: str = ""
    """The noun's plural, when it is not the noun plus "s"."""


_ENTITIES: tuple[_Entity, ...] = (
    _Entity(
        "offices",
        "office",
        "office",
        "id, city, country (ISO code such as DE, US), region (EMEA or AMER) and capacity (desks)",
        (_eq("country", str | None, "ISO country code, e.g. DE"), _eq("region", str | None, "EMEA or AMER")),
        search="city",
    ),
    _Entity(
        "departments",
        "department",
        "department",
        "id, name, cost_center, head_id (an employee id) and budget_eur (annual budget, euros)",
        (_eq("name", str | None, "exact department name, e.g. Finance"),),
        search="name",
    ),
    _Entity(
        "employees",
        "employee",
        "employee",
        "id, name, email, department_id, office_id, title, level (1-6), salary_eur (annual, euros), "
        "manager_id (None for a department head), hire_date (YYYY-MM-DD) and active (False once they left)",
        (
            _eq("department_id", int | None, "only this department"),
            _eq("office_id", int | None, "only this office"),
            _eq("level", int | None, "only this level (1-6)"),
            _eq("active", bool | None, "True: current staff only; False: former staff only"),
        ),
        search="name",
        total=("total_payroll", "salary_eur", "the annual salaries (euros)"),
        links=(
            ("employees_in_department", "department_id", "department"),
            ("employees_in_office", "office_id", "office"),
            ("direct_reports", "manager_id", "manager (an employee id)"),
        ),
    ),
    _Entity(
        "projects",
        "project",
        "project",
        "id, code, name, department_id, status (planned, active, done or cancelled), budget_eur, lead_id "
        "(an employee id), start_date and end_date (YYYY-MM-DD)",
        (_eq("department_id", int | None, "only this department"), _eq("status", str | None, "e.g. active")),
        search="name",
        total=("total_project_budget", "budget_eur", "the project budgets (euros)"),
        links=(("projects_of_department", "department_id", "department"),),
    ),
    _Entity(
        "assignments",
        "assignment",
        "project assignment",
        "id, project_id, employee_id, role (contributor, reviewer or owner) and allocation_pct",
        (
            _eq("project_id", int | None, "only this project"),
            _eq("employee_id", int | None, "only this employee"),
        ),
        links=(
            ("project_members", "project_id", "project"),
            ("assignments_of_employee", "employee_id", "employee"),
        ),
    ),
    _Entity(
        "timesheets",
        "timesheet",
        "timesheet entry",
        "id, employee_id, project_id, date (the Monday of the week, YYYY-MM-DD) and hours (that week)",
        (
            _eq("employee_id", int | None, "only this employee"),
            _eq("project_id", int | None, "only this project"),
            *_range("date", "weeks starting"),
        ),
        total=("total_hours", "hours", "the hours logged"),
        links=(("timesheets_of_employee", "employee_id", "employee"),),
        plural="timesheet entries",
    ),
    _Entity(
        "customers",
        "customer",
        "customer",
        "id, name, industry, country (ISO code), tier (enterprise, business or starter) and "
        "account_manager_id (an employee id)",
        (
            _eq("country", str | None, "ISO country code, e.g. DE"),
            _eq("tier", str | None, "enterprise, business or starter"),
            _eq("industry", str | None, "e.g. logistics"),
            _eq("account_manager_id", int | None, "only this account manager's customers"),
        ),
        search="name",
        links=(("customers_of_account_manager", "account_manager_id", "account manager (an employee id)"),),
    ),
    _Entity(
        "invoices",
        "invoice",
        "invoice",
        "id, customer_id, issued and due (YYYY-MM-DD), amount (in the invoice's currency), currency "
        "(EUR, USD or GBP) and status (sent, partially_paid, paid or void)",
        (
            _eq("customer_id", int | None, "only this customer"),
            _eq("status", str | None, "e.g. sent"),
            _eq("currency", str | None, "EUR, USD or GBP"),
            *_range("issued", "invoices issued"),
        ),
        links=(("invoices_for_customer", "customer_id", "customer"),),
    ),
    _Entity(
        "payments",
        "payment",
        "payment",
        "id, invoice_id, date (YYYY-MM-DD), amount (in the invoice's currency) and method",
        (_eq("invoice_id", int | None, "only this invoice"), *_range("date", "payments made")),
        links=(("payments_for_invoice", "invoice_id", "invoice"),),
    ),
    _Entity(
        "vendors",
        "vendor",
        "vendor",
        "id, name, category (cloud, office, travel, software, security, ...), country and rating (1-5)",
        (_eq("category", str | None, "e.g. cloud"), _eq("country", str | None, "ISO country code")),
        search="name",
    ),
    _Entity(
        "purchase_orders",
        "purchase_order",
        "purchase order",
        "id, vendor_id, department_id, date (YYYY-MM-DD), amount (in the order's currency), currency "
        "(EUR, USD or GBP) and status (approved, pending or rejected)",
        (
            _eq("vendor_id", int | None, "only this vendor"),
            _eq("department_id", int | None, "only this department"),
            _eq("status", str | None, "approved, pending or rejected"),
            *_range("date", "orders placed"),
        ),
        links=(
            ("purchase_orders_of_vendor", "vendor_id", "vendor"),
            ("purchase_orders_of_department", "department_id", "department"),
        ),
    ),
    _Entity(
        "products",
        "product",
        "product",
        "id, sku, name, line (platform, security, analytics, integration or support) and list_price_eur",
        (_eq("line", str | None, "e.g. analytics"),),
        search="name",
    ),
    _Entity(
        "tickets",
        "ticket",
        "support ticket",
        "id, customer_id, product_id, assignee_id (an employee id), priority (low, medium, high or "
        "urgent), status (open, pending, resolved or closed), opened and closed (YYYY-MM-DD; closed is "
        "None while unresolved) and subject",
        (
            _eq("customer_id", int | None, "only this customer"),
            _eq("product_id", int | None, "only this product"),
            _eq("assignee_id", int | None, "only this assignee"),
            _eq("priority", str | None, "low, medium, high or urgent"),
            _eq("status", str | None, "open, pending, resolved or closed"),
        ),
        search="subject",
        links=(
            ("tickets_of_customer", "customer_id", "customer"),
            ("tickets_assigned_to", "assignee_id", "assignee (an employee id)"),
        ),
    ),
    _Entity(
        "assets",
        "asset",
        "asset",
        "id, tag, kind (laptop, monitor, phone, headset or dock), employee_id, office_id, purchased "
        "(YYYY-MM-DD) and cost_eur",
        (
            _eq("kind", str | None, "e.g. laptop"),
            _eq("employee_id", int | None, "only this employee's"),
            _eq("office_id", int | None, "only this office's"),
        ),
        total=("total_asset_cost", "cost_eur", "the purchase costs (euros)"),
        links=(("assets_of_employee", "employee_id", "employee"),),
    ),
    _Entity(
        "contracts",
        "contract",
        "customer contract",
        "id, customer_id, product_id, value_eur, start_date and end_date (YYYY-MM-DD) and status "
        "(active or expired)",
        (
            _eq("customer_id", int | None, "only this customer"),
            _eq("product_id", int | None, "only this product"),
            _eq("status", str | None, "active or expired"),
        ),
        total=("total_contract_value", "value_eur", "the contract values (euros)"),
        links=(("contracts_of_customer", "customer_id", "customer"),),
    ),
    _Entity(
        "expenses",
        "expense",
        "expense claim",
        "id, employee_id, category (travel, meals, software, training or equipment), amount_eur, date "
        "(YYYY-MM-DD) and status (submitted, approved, reimbursed or rejected)",
        (
            _eq("employee_id", int | None, "only this employee"),
            _eq("category", str | None, "e.g. travel"),
            _eq("status", str | None, "e.g. approved"),
            *_range("date", "expenses dated"),
        ),
        total=("total_expenses", "amount_eur", "the claimed amounts (euros)"),
        links=(("expenses_of_employee", "employee_id", "employee"),),
    ),
    _Entity(
        "licenses",
        "license",
        "software license",
        "id, software, vendor_id, seats, seats_used, renewal_date (YYYY-MM-DD) and annual_cost_eur",
        (_eq("vendor_id", int | None, "only this vendor"),),
        search="software",
        total=("total_license_cost", "annual_cost_eur", "the annual costs (euros)"),
    ),
    _Entity(
        "leave_requests",
        "leave_request",
        "leave request",
        "id, employee_id, kind (vacation, sick or parental), start_date (YYYY-MM-DD), days (working days) "
        "and status (approved, pending or rejected)",
        (
            _eq("employee_id", int | None, "only this employee"),
            _eq("kind", str | None, "vacation, sick or parental"),
            _eq("status", str | None, "approved, pending or rejected"),
        ),
        links=(("leave_of_employee", "employee_id", "employee"),),
    ),
    _Entity(
        "trainings",
        "training",
        "training course",
        "id, title, vendor_id, hours and cost_eur (per participant)",
        search="title",
    ),
    _Entity(
        "enrollments",
        "enrollment",
        "training enrollment",
        "id, training_id, employee_id, status (enrolled, completed or dropped) and completed_on "
        "(YYYY-MM-DD or None)",
        (
            _eq("training_id", int | None, "only this training"),
            _eq("employee_id", int | None, "only this employee"),
            _eq("status", str | None, "enrolled, completed or dropped"),
        ),
        links=(("enrollments_of_training", "training_id", "training"),),
    ),
)

_Rows = list[dict[str, Any]]


def _function(
    name: str,
    params: list[tuple[str, Any, Any]],
    returns: Any,
    doc: str,
    body: Callable[[dict[str, Any]], Any],
) -> Callable[..., Any]:
    """A function named `name` with the signature `params` ((name, annotation, default), the default
    `inspect.Parameter.empty` for a required one) and return annotation `returns`: what
    `inspect.signature` and `typing.get_type_hints` report, as for a hand-written `def`. It binds its
    arguments to that signature (defaults applied) and hands them to `body` as a dict."""
    signature = inspect.Signature(
        [
            inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d, annotation=a)
            for p, a, d in params
        ],
        return_annotation=returns,
    )

    def function(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return body(dict(bound.arguments))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    function.__annotations__ = {p: a for p, a, _ in params} | {"return": returns}
    setattr(function, "__signature__", signature)  # noqa: B010 - a function attribute pyright does not know
    return function


def _matches(row: dict[str, Any], filters: tuple[_Filter, ...], args: dict[str, Any]) -> bool:
    for f in filters:
        value = args.get(f.param)
        if value is None:
            continue
        have = row[f.field]
        if f.op == "eq" and have != value:
            return False
        if f.op == "from" and (have is None or have < value):
            return False
        if f.op == "to" and (have is None or have > value):
            return False
    return True


def _generic(entity: _Entity, rows: _Rows) -> list[Callable[..., Any]]:
    """list_/get_/count_ (and search_, total_ and the one-key list functions) for one entity."""
    by_id = {r["id"]: r for r in rows}
    filter_params = [(f.param, f.annotation, None) for f in entity.filters]
    filter_doc = "".join(f"\n    {f.param}: {f.doc}" for f in entity.filters)
    plural = entity.plural or entity.noun + "s"
    names = [f.param for f in entity.filters]
    by = f", optionally filtered by {', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else ""
    by = by or (f", optionally filtered by {names[0]}" if names else "")
    out: list[Callable[..., Any]] = []

    def select(args: dict[str, Any]) -> _Rows:
        return [dict(r) for r in rows if _matches(r, entity.filters, args)]

    args_line = f"\n\nArgs (all optional, combined with AND):{filter_doc}" if entity.filters else ""
    out.append(
        _function(
            f"list_{entity.table}",
            filter_params,
            list[dict[str, Any]],
            f"List {plural}, in id order{by}.{args_line}\n\n"
            f"Each {entity.noun} is a dict with {entity.fields}.",
            select,
        )
    )
    key = f"{entity.singular}_id"

    def get(args: dict[str, Any]) -> dict[str, Any]:
        row = by_id.get(args[key])
        if row is None:
            raise KeyError(f"no {entity.noun} with id {args[key]}")
        return dict(row)

    out.append(
        _function(
            f"get_{entity.singular}",
            [(key, int, inspect.Parameter.empty)],
            dict[str, Any],
            f"One {entity.noun} by id: a dict with {entity.fields}. Raises KeyError for an unknown id.",
            get,
        )
    )
    out.append(
        _function(
            f"count_{entity.table}",
            filter_params,
            int,
            f"How many {plural} there are{by}.{args_line}",
            lambda args: len(select(args)),
        )
    )
    if entity.search is not None:
        field = entity.search

        def search(args: dict[str, Any]) -> _Rows:
            text = str(args["text"]).lower()
            return [dict(r) for r in rows if text in str(r[field]).lower()]

        out.append(
            _function(
                f"search_{entity.table}",
                [("text", str, inspect.Parameter.empty)],
                list[dict[str, Any]],
                f"The {plural} whose {field} contains `text` (case-insensitive), in id order; each a dict "
                f"with {entity.fields}.",
                search,
            )
        )
    if entity.total is not None:
        total_name, total_field, what = entity.total

        def total(args: dict[str, Any]) -> float:
            return round(sum(r[total_field] for r in select(args)), 2)

        out.append(
            _function(
                total_name,
                filter_params,
                float,
                f"The sum of {what} over the {plural}{by}.{args_line}",
                total,
            )
        )
    for link_name, fk, what in entity.links:

        def linked(args: dict[str, Any], fk: str = fk) -> _Rows:
            return [dict(r) for r in rows if r[fk] == args[fk]]

        out.append(
            _function(
                link_name,
                [(fk, int, inspect.Parameter.empty)],
                list[dict[str, Any]],
                f"The {plural} of one {what}, in id order; each a dict with {entity.fields}.",
                linked,
            )
        )
    return out


# -- the hand-written functions ----------------------------------------------------------------


def _to_eur(amount: float, currency: str) -> float:
    if currency not in _EUR_PER:
        raise ValueError(f"unknown currency {currency!r}; known: {', '.join(CURRENCIES)}")
    return amount * _EUR_PER[currency]


def _specific(data: dict[str, _Rows]) -> list[Callable[..., Any]]:
    employees = {e["id"]: e for e in data["employees"]}
    departments = {d["id"]: d for d in data["departments"]}
    invoices = {i["id"]: i for i in data["invoices"]}
    customers = {c["id"]: c for c in data["customers"]}
    licenses = {lic["id"]: lic for lic in data["licenses"]}
    assets = {a["id"]: a for a in data["assets"]}
    tickets = {t["id"]: t for t in data["tickets"]}
    offices = {o["id"]: o for o in data["offices"]}
    vendors = {v["id"]: v for v in data["vendors"]}

    def known(table: dict[int, dict[str, Any]], key: int, noun: str) -> dict[str, Any]:
        if key not in table:
            raise KeyError(f"no {noun} with id {key}")
        return table[key]

    def fx_rate(from_currency: str, to_currency: str) -> float:
        """How many units of `to_currency` one unit of `from_currency` buys (EUR, USD or GBP;
        the company's fixed planning rates)."""
        return round(_to_eur(1.0, from_currency) / _to_eur(1.0, to_currency), 6)

    def convert_currency(amount: float, from_currency: str, to_currency: str) -> float:
        """`amount` in `from_currency` converted to `to_currency` at the fixed planning rates,
        rounded to cents. Currencies: EUR, USD, GBP."""
        return round(_to_eur(amount, from_currency) / _to_eur(1.0, to_currency), 2)

    def invoice_balance(invoice_id: int) -> dict[str, Any]:
        """What is still owed on an invoice: a dict with invoice_id, currency, amount, paid and
        balance (amount minus payments, in the invoice's currency; 0 for a void invoice)."""
        invoice = known(invoices, invoice_id, "invoice")
        paid = round(sum(p["amount"] for p in data["payments"] if p["invoice_id"] == invoice_id), 2)
        balance = 0.0 if invoice["status"] == "void" else round(invoice["amount"] - paid, 2)
        return {
            "invoice_id": invoice_id,
            "currency": invoice["currency"],
            "amount": invoice["amount"],
            "paid": paid,
            "balance": balance,
        }

    def overdue_invoices(as_of: str) -> list[dict[str, Any]]:
        """Invoices past their due date on `as_of` (YYYY-MM-DD) and not fully paid or void, in id
        order; each a dict with the invoice's fields (id, customer_id, issued, due, amount, currency,
        status)."""
        return [
            dict(i)
            for i in data["invoices"]
            if i["due"] < as_of and i["status"] in ("sent", "partially_paid")
        ]

    def customer_revenue(customer_id: int, year: int) -> float:
        """Payments received from a customer in `year`, converted to euros at the planning rates."""
        known(customers, customer_id, "customer")
        total = 0.0
        for p in data["payments"]:
            invoice = invoices[p["invoice_id"]]
            if invoice["customer_id"] == customer_id and p["date"].startswith(str(year)):
                total += _to_eur(p["amount"], invoice["currency"])
        return round(total, 2)

    def manager_chain(employee_id: int) -> list[dict[str, Any]]:
        """An employee's managers from the direct one up to the department head: a list of dicts
        with id, name and title (empty for a department head)."""
        chain: list[dict[str, Any]] = []
        current = known(employees, employee_id, "employee")
        while current["manager_id"] is not None:
            current = employees[current["manager_id"]]
            chain.append({"id": current["id"], "name": current["name"], "title": current["title"]})
        return chain

    def department_headcount(department_id: int) -> int:
        """How many active employees a department has."""
        known(departments, department_id, "department")
        return sum(1 for e in data["employees"] if e["department_id"] == department_id and e["active"])

    def department_payroll(department_id: int) -> float:
        """A department's annual payroll: the sum of its active employees' salaries, in euros."""
        known(departments, department_id, "department")
        return float(
            sum(
                e["salary_eur"]
                for e in data["employees"]
                if e["department_id"] == department_id and e["active"]
            )
        )

    def project_hours(project_id: int, start_date: str, end_date: str) -> float:
        """Hours logged on a project in the weeks starting from `start_date` to `end_date`
        inclusive (YYYY-MM-DD)."""
        return round(
            sum(
                t["hours"]
                for t in data["timesheets"]
                if t["project_id"] == project_id and start_date <= t["date"] <= end_date
            ),
            2,
        )

    def employee_utilization(employee_id: int, week: str) -> float:
        """Hours an employee logged in the week starting on Monday `week` (YYYY-MM-DD), as a share
        of a 40-hour week (0.0 to about 1.1)."""
        known(employees, employee_id, "employee")
        hours = sum(
            t["hours"] for t in data["timesheets"] if t["employee_id"] == employee_id and t["date"] == week
        )
        return round(hours / 40, 4)

    def vendor_spend(vendor_id: int, year: int) -> float:
        """Approved purchase orders with a vendor in `year`, converted to euros at the planning rates."""
        known(vendors, vendor_id, "vendor")
        return round(
            sum(
                _to_eur(o["amount"], o["currency"])
                for o in data["purchase_orders"]
                if o["vendor_id"] == vendor_id
                and o["status"] == "approved"
                and o["date"].startswith(str(year))
            ),
            2,
        )

    def open_tickets_for_customer(customer_id: int) -> list[dict[str, Any]]:
        """A customer's tickets with status open or pending, in id order; each a dict with the
        ticket's fields (id, customer_id, product_id, assignee_id, priority, status, opened, closed,
        subject)."""
        known(customers, customer_id, "customer")
        return [
            dict(t)
            for t in data["tickets"]
            if t["customer_id"] == customer_id and t["status"] in ("open", "pending")
        ]

    def ticket_resolution_days(ticket_id: int) -> int | None:
        """Days from a ticket's opening to its closing, or None while it is unresolved."""
        ticket = known(tickets, ticket_id, "ticket")
        if ticket["closed"] is None:
            return None
        return (dt.date.fromisoformat(ticket["closed"]) - dt.date.fromisoformat(ticket["opened"])).days

    def asset_book_value(asset_id: int, as_of: str) -> float:
        """An asset's value on `as_of` (YYYY-MM-DD): its cost written off in a straight line over
        three years from purchase, never below zero; in euros."""
        asset = known(assets, asset_id, "asset")
        age = (dt.date.fromisoformat(as_of) - dt.date.fromisoformat(asset["purchased"])).days
        return round(max(0.0, asset["cost_eur"] * (1 - max(age, 0) / 1095)), 2)

    def license_utilization(license_id: int) -> float:
        """The share of a license's seats in use (seats_used / seats)."""
        lic = known(licenses, license_id, "license")
        return round(lic["seats_used"] / lic["seats"], 4)

    def leave_balance(employee_id: int, year: int) -> int:
        """Vacation days an employee has left in `year`: 28 minus approved vacation days starting
        that year."""
        known(employees, employee_id, "employee")
        taken = sum(
            r["days"]
            for r in data["leave_requests"]
            if r["employee_id"] == employee_id
            and r["kind"] == "vacation"
            and r["status"] == "approved"
            and r["start_date"].startswith(str(year))
        )
        return 28 - taken

    def contracts_expiring(start_date: str, end_date: str) -> list[dict[str, Any]]:
        """Contracts whose end_date falls from `start_date` to `end_date` inclusive (YYYY-MM-DD), in
        end-date order; each a dict with the contract's fields."""
        found = [dict(c) for c in data["contracts"] if start_date <= c["end_date"] <= end_date]
        return sorted(found, key=lambda c: (c["end_date"], c["id"]))

    def expense_summary(employee_id: int, year: int) -> dict[str, float]:
        """An employee's non-rejected expense claims in `year`, summed by category (euros)."""
        known(employees, employee_id, "employee")
        out: dict[str, float] = {}
        for e in data["expenses"]:
            if (
                e["employee_id"] == employee_id
                and e["status"] != "rejected"
                and e["date"].startswith(str(year))
            ):
                out[e["category"]] = round(out.get(e["category"], 0.0) + e["amount_eur"], 2)
        return out

    def office_occupancy(office_id: int) -> dict[str, Any]:
        """An office's desks and who sits there: a dict with office_id, city, capacity, employees
        (active employees based there) and free_desks (capacity minus employees; may be negative)."""
        office = known(offices, office_id, "office")
        staff = sum(1 for e in data["employees"] if e["office_id"] == office_id and e["active"])
        return {
            "office_id": office_id,
            "city": office["city"],
            "capacity": office["capacity"],
            "employees": staff,
            "free_desks": office["capacity"] - staff,
        }

    def public_holidays(country: str, year: int) -> list[str]:
        """The public holidays of a country (ISO code: DE, FR, NL, SE, US or GB) in `year`, as
        YYYY-MM-DD dates; only 2024 is on file (other years give an empty list)."""
        if country not in _HOLIDAYS:
            raise KeyError(f"no holiday calendar for {country!r}")
        return [d for d in _HOLIDAYS[country] if d.startswith(str(year))]

    def business_days_between(start_date: str, end_date: str, country: str) -> int:
        """Working days (Monday to Friday, not a public holiday of `country`) from `start_date` to
        `end_date` inclusive (YYYY-MM-DD)."""
        holidays = set(_HOLIDAYS.get(country, []))
        day, end = dt.date.fromisoformat(start_date), dt.date.fromisoformat(end_date)
        count = 0
        while day <= end:
            if day.weekday() < 5 and day.isoformat() not in holidays:
                count += 1
            day += dt.timedelta(days=1)
        return count

    def training_completion_rate(training_id: int) -> float:
        """The share of a training's enrollments that were completed (0.0 when nobody enrolled)."""
        rows = [e for e in data["enrollments"] if e["training_id"] == training_id]
        return round(sum(e["status"] == "completed" for e in rows) / len(rows), 4) if rows else 0.0

    def average_resolution_days(product_id: int) -> float | None:
        """The mean days from opening to closing over a product's resolved or closed tickets, or None
        when none is."""
        days = [
            d
            for t in data["tickets"]
            if t["product_id"] == product_id and (d := ticket_resolution_days(t["id"])) is not None
        ]
        return round(sum(days) / len(days), 2) if days else None

    def org_units() -> list[dict[str, Any]]:
        """Every department with its head's name and active headcount: dicts with id, name,
        head_name and headcount."""
        return [
            {
                "id": d["id"],
                "name": d["name"],
                "head_name": employees[d["head_id"]]["name"],
                "headcount": department_headcount(d["id"]),
            }
            for d in data["departments"]
        ]

    return [
        fx_rate,
        convert_currency,
        invoice_balance,
        overdue_invoices,
        customer_revenue,
        manager_chain,
        department_headcount,
        department_payroll,
        project_hours,
        employee_utilization,
        vendor_spend,
        open_tickets_for_customer,
        ticket_resolution_days,
        asset_book_value,
        license_utilization,
        leave_balance,
        contracts_expiring,
        expense_summary,
        office_occupancy,
        public_holidays,
        business_days_between,
        training_completion_rate,
        average_resolution_days,
        org_units,
    ]


def make_functions() -> dict[str, Callable[..., Any]]:
    """Fresh functions over the enterprise data (read-only: they return copies of the rows)."""
    functions: list[Callable[..., Any]] = []
    for entity in _ENTITIES:
        functions += _generic(entity, DATA[entity.table])
    functions += _specific(DATA)
    out = {f.__name__: f for f in functions}
    if len(out) != len(functions):
        raise AssertionError("enterprise: two functions share a name")
    return out
