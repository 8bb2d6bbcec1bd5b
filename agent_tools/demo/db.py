"""The demo shop database: a SQLite file of customers, products, orders and shipments.

The data is generated, not real, but shaped like a small online shop's: a few
heavy buyers among many occasional ones, popular and slow-selling products,
a busier November and December, discounts on some lines, cancellations,
returns and parcels still in transit at the end of the period. It is the same
on every machine: a fixed `random.Random` seed and a fixed period
(2024-01-01 to 2025-12-31, `AS_OF` being the last day), no clock.

The file is built on first use in the user's data directory
(`$AGENT_TOOLS_DATA_DIR`, else `$XDG_DATA_HOME/agent-tools`, else
`~/.local/share/agent-tools`) as `demo.sqlite3`: into a temporary file in the
same directory first, then renamed into place, so a reader never sees a half
built file and two processes building at once both end with a whole one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import random
import sqlite3
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "AS_OF",
    "CATEGORIES",
    "COUNTRIES",
    "DATA_START",
    "FILE_NAME",
    "ORDER_STATUSES",
    "SCHEMA_VERSION",
    "SHIPMENT_STATUSES",
    "build_database",
    "connect_readonly",
    "data_dir",
    "default_path",
    "ensure_database",
]

FILE_NAME = "demo.sqlite3"
SCHEMA_VERSION = 1
"""Stored as `PRAGMA user_version`; a file with another version is rebuilt."""
_APPLICATION_ID = 0x41544430  # "ATD0": marks the file as ours
SEED = 20240101

DATA_START = dt.date(2024, 1, 1)
AS_OF = dt.date(2025, 12, 31)
"""The last day of the data: orders placed up to then, parcels delivered by then."""

N_CUSTOMERS = 600
N_ORDERS = 4000

ORDER_STATUSES = ("processing", "shipped", "delivered", "cancelled", "returned")
SHIPMENT_STATUSES = ("in_transit", "delivered", "returned")

COUNTRIES: dict[str, str] = {
    "US": "United States",
    "GB": "United Kingdom",
    "DE": "Germany",
    "FR": "France",
    "ES": "Spain",
    "IT": "Italy",
    "NL": "Netherlands",
    "SE": "Sweden",
    "CA": "Canada",
    "AU": "Australia",
    "JP": "Japan",
    "BR": "Brazil",
}
"""ISO 3166 code -> English name, for every country the shop sells to."""

_COUNTRY_WEIGHTS = {
    "US": 26,
    "GB": 12,
    "DE": 12,
    "FR": 10,
    "ES": 6,
    "IT": 6,
    "NL": 5,
    "SE": 4,
    "CA": 7,
    "AU": 5,
    "JP": 4,
    "BR": 3,
}

_CITIES: dict[str, tuple[str, ...]] = {
    "US": ("New York", "Chicago", "Austin", "Seattle", "Denver", "Boston", "Atlanta", "San Diego"),
    "GB": ("London", "Manchester", "Bristol", "Leeds", "Edinburgh", "Glasgow"),
    "DE": ("Berlin", "Munich", "Hamburg", "Cologne", "Leipzig", "Frankfurt"),
    "FR": ("Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Lille"),
    "ES": ("Madrid", "Barcelona", "Valencia", "Seville", "Bilbao"),
    "IT": ("Rome", "Milan", "Turin", "Bologna", "Naples"),
    "NL": ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"),
    "SE": ("Stockholm", "Gothenburg", "Malmö", "Uppsala"),
    "CA": ("Toronto", "Vancouver", "Montreal", "Calgary", "Ottawa"),
    "AU": ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide"),
    "JP": ("Tokyo", "Osaka", "Kyoto", "Yokohama", "Sapporo"),
    "BR": ("São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba"),
}

_CARRIERS: dict[str, tuple[str, ...]] = {
    "US": ("UPS", "FedEx", "USPS"),
    "GB": ("Royal Mail", "DPD", "UPS"),
    "DE": ("DHL", "Hermes", "DPD"),
    "FR": ("La Poste", "Chronopost", "DHL"),
    "ES": ("Correos", "SEUR", "DHL"),
    "IT": ("Poste Italiane", "BRT", "DHL"),
    "NL": ("PostNL", "DHL"),
    "SE": ("PostNord", "DHL"),
    "CA": ("Canada Post", "Purolator", "UPS"),
    "AU": ("Australia Post", "StarTrack"),
    "JP": ("Yamato", "Sagawa", "Japan Post"),
    "BR": ("Correios", "Jadlog"),
}

_ENGLISH = (
    ("James", "Mary", "Olivia", "Liam", "Emma", "Noah", "Ava", "Ethan", "Sophia", "Lucas", "Grace", "Henry"),
    (
        "Smith",
        "Johnson",
        "Brown",
        "Taylor",
        "Wilson",
        "Clarke",
        "Walker",
        "Hughes",
        "Evans",
        "Carter",
        "Reed",
    ),
)
_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "US": _ENGLISH,
    "GB": _ENGLISH,
    "CA": _ENGLISH,
    "AU": _ENGLISH,
    "DE": (
        ("Lukas", "Anna", "Jonas", "Lea", "Felix", "Marie", "Paul", "Hannah", "Leon", "Sophie"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch"),
    ),
    "FR": (
        ("Louis", "Camille", "Hugo", "Chloé", "Jules", "Léa", "Arthur", "Manon", "Gabriel", "Inès"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy", "Moreau"),
    ),
    "ES": (
        ("Hugo", "Lucía", "Martín", "Sofía", "Pablo", "Carmen", "Daniel", "Elena", "Javier"),
        ("García", "Fernández", "López", "Martínez", "Sánchez", "Pérez", "Gómez", "Ruiz"),
    ),
    "IT": (
        ("Leonardo", "Giulia", "Francesco", "Sofia", "Alessandro", "Aurora", "Matteo", "Chiara"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"),
    ),
    "NL": (
        ("Daan", "Emma", "Sem", "Julia", "Lucas", "Tess", "Finn", "Sanne"),
        ("de Jong", "Jansen", "de Vries", "van Dijk", "Bakker", "Visser", "Smit", "Meijer"),
    ),
    "SE": (
        ("Erik", "Astrid", "Oskar", "Elsa", "Karl", "Maja", "Nils", "Ingrid"),
        ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson"),
    ),
    "JP": (
        ("Haruto", "Yui", "Sota", "Hina", "Ren", "Sakura", "Yuto", "Aoi"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"),
    ),
    "BR": (
        ("Miguel", "Ana", "Arthur", "Beatriz", "Davi", "Larissa", "Gabriel", "Juliana"),
        ("Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Lima"),
    ),
}

# Category -> (SKU prefix, brands, [(product, typical price in USD)]).
_CATALOG: dict[str, tuple[str, tuple[str, ...], tuple[tuple[str, float], ...]]] = {
    "Electronics": (
        "ELE",
        ("Nimbus", "Voltra", "Kestrel"),
        (
            ("Wireless Earbuds", 79),
            ("Bluetooth Speaker", 59),
            ("USB-C Hub", 39),
            ("Mechanical Keyboard", 119),
            ("Wireless Mouse", 29),
            ("27-inch Monitor", 279),
            ("HD Webcam", 69),
            ("Power Bank 20000mAh", 45),
            ("Smartwatch", 199),
            ("Noise-Cancelling Headphones", 249),
            ("Portable SSD 1TB", 109),
            ("Fast Phone Charger", 25),
            ("E-Reader", 139),
            ("Action Camera", 229),
            ("Smart Plug 4-Pack", 35),
        ),
    ),
    "Home & Kitchen": (
        "HOM",
        ("Hearth", "Copperleaf", "Nordvik"),
        (
            ("Chef's Knife", 49),
            ("Cast Iron Skillet", 39),
            ("French Press", 29),
            ("Electric Kettle", 45),
            ("Espresso Machine", 349),
            ("Blender", 89),
            ("Non-Stick Pan Set", 119),
            ("Bamboo Cutting Board", 22),
            ("Stand Mixer", 299),
            ("Air Fryer", 129),
            ("Glass Food Containers", 34),
            ("Linen Tablecloth", 42),
            ("Ceramic Mug Set", 28),
            ("Robot Vacuum", 399),
            ("Scented Candle", 18),
        ),
    ),
    "Books": (
        "BOK",
        ("Larkspur Press", "Meridian Books", "Quill & Co"),
        (
            ("The Quiet Orchard (novel)", 16),
            ("Practical SQL Handbook", 39),
            ("Mountains of the North (photo book)", 45),
            ("Everyday Vegetarian Cookbook", 29),
            ("A Short History of Maps", 24),
            ("Python for Data Work", 44),
            ("The Lighthouse Keeper (novel)", 15),
            ("Birds of Europe Field Guide", 27),
            ("Mindful Mornings", 19),
            ("Children's Atlas", 21),
            ("Stars and Planets", 23),
            ("The Baker's Year", 32),
            ("Tales from the Harbour (stories)", 14),
            ("Design Basics", 36),
            ("Learn Spanish in 30 Days", 22),
        ),
    ),
    "Clothing": (
        "CLO",
        ("Fjell", "Bramble", "Oakline"),
        (
            ("Merino Wool Sweater", 89),
            ("Rain Jacket", 129),
            ("Organic Cotton T-Shirt", 24),
            ("Slim Fit Jeans", 69),
            ("Down Parka", 249),
            ("Running Shorts", 32),
            ("Wool Socks 3-Pack", 21),
            ("Linen Shirt", 54),
            ("Knit Beanie", 19),
            ("Leather Belt", 39),
            ("Fleece Hoodie", 59),
            ("Chino Trousers", 62),
            ("Silk Scarf", 45),
            ("Canvas Sneakers", 65),
            ("Leather Gloves", 49),
        ),
    ),
    "Sports & Outdoors": (
        "SPO",
        ("Summit", "Tidewater", "Ridgeback"),
        (
            ("Yoga Mat", 35),
            ("Trekking Poles", 59),
            ("Two-Person Tent", 189),
            ("Sleeping Bag", 119),
            ("Insulated Water Bottle", 29),
            ("Adjustable Dumbbells", 229),
            ("Cycling Helmet", 79),
            ("Daypack 25L", 69),
            ("Headlamp", 32),
            ("Resistance Bands Set", 24),
            ("Camping Stove", 54),
            ("Trail Running Shoes", 139),
            ("Foam Roller", 27),
            ("Jump Rope", 15),
            ("Kayak Paddle", 99),
        ),
    ),
    "Toys & Games": (
        "TOY",
        ("Pebble", "Brightwood", "Tumbleweed"),
        (
            ("Wooden Building Blocks", 39),
            ("1000-Piece Puzzle", 22),
            ("Strategy Board Game", 49),
            ("Remote Control Car", 59),
            ("Plush Bear", 25),
            ("Card Game", 15),
            ("Science Kit", 44),
            ("Marble Run", 52),
            ("Art Set", 29),
            ("Dollhouse", 119),
            ("Kite", 19),
            ("Magnetic Tiles", 64),
            ("Chess Set", 35),
            ("Toy Train Set", 79),
            ("Bubble Machine", 21),
        ),
    ),
    "Beauty": (
        "BEA",
        ("Lumen", "Saltmarsh", "Velvetine"),
        (
            ("Face Moisturiser", 28),
            ("Vitamin C Serum", 36),
            ("Sunscreen SPF 50", 19),
            ("Shampoo Bar", 12),
            ("Hair Dryer", 89),
            ("Lip Balm Set", 11),
            ("Clay Face Mask", 22),
            ("Body Lotion", 17),
            ("Perfume 50ml", 79),
            ("Electric Toothbrush", 69),
            ("Nail Care Kit", 24),
            ("Beard Oil", 21),
            ("Hand Cream", 9),
            ("Makeup Brush Set", 34),
            ("Bath Salts", 16),
        ),
    ),
    "Office": (
        "OFF",
        ("Inkwell", "Ledger", "Paperfox"),
        (
            ("Ergonomic Office Chair", 329),
            ("Standing Desk", 449),
            ("Desk Lamp", 49),
            ("Notebook 3-Pack", 18),
            ("Fountain Pen", 59),
            ("Monitor Stand", 45),
            ("Label Printer", 89),
            ("Paper Shredder", 119),
            ("Whiteboard", 69),
            ("Gel Pens 12-Pack", 14),
            ("Document Scanner", 249),
            ("Desk Organizer", 29),
            ("Printer Paper 5 Reams", 39),
            ("Laptop Sleeve", 35),
            ("Wireless Presenter", 32),
        ),
    ),
}

CATEGORIES: tuple[str, ...] = tuple(_CATALOG)
"""The product categories, in catalog order."""

_SCHEMA_SQL = """
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    city TEXT NOT NULL,
    segment TEXT NOT NULL CHECK (segment IN ('consumer', 'business')),
    signup_date TEXT NOT NULL
);
CREATE TABLE products (
    sku TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    unit_price REAL NOT NULL,
    stock INTEGER NOT NULL
);
CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(customer_id),
    order_date TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('processing', 'shipped', 'delivered', 'cancelled', 'returned')),
    total REAL NOT NULL
);
CREATE TABLE order_items (
    order_id INTEGER NOT NULL REFERENCES orders(order_id),
    line_no INTEGER NOT NULL,
    sku TEXT NOT NULL REFERENCES products(sku),
    quantity INTEGER NOT NULL,
    unit_price REAL NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE TABLE shipments (
    shipment_id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(order_id),
    carrier TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('in_transit', 'delivered', 'returned')),
    shipped_date TEXT NOT NULL,
    delivered_date TEXT
);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX orders_date ON orders(order_date);
CREATE INDEX order_items_sku ON order_items(sku);
CREATE INDEX shipments_order ON shipments(order_id);
"""


def data_dir() -> Path:
    """Where agent-tools keeps its data: `$AGENT_TOOLS_DATA_DIR`, else
    `$XDG_DATA_HOME/agent-tools`, else `~/.local/share/agent-tools`."""
    if explicit := os.environ.get("AGENT_TOOLS_DATA_DIR"):
        return Path(explicit).expanduser()
    if xdg := os.environ.get("XDG_DATA_HOME"):
        return Path(xdg).expanduser() / "agent-tools"
    return Path.home() / ".local" / "share" / "agent-tools"


def default_path() -> Path:
    """The demo database's file (which may not exist yet)."""
    return data_dir() / FILE_NAME


# ---------------------------------------------------------------------------
# Generating the data


def _ascii(text: str) -> str:
    """`text` without accents or spaces, lower case: for e-mail addresses."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def _day(n: int) -> str:
    return (DATA_START + dt.timedelta(days=n)).isoformat()


def _season(day: dt.date) -> float:
    """How busy the shop is on `day`: growth over the two years, a busy end of year."""
    month_factor = {1: 0.8, 2: 0.8, 3: 0.9, 6: 0.9, 7: 0.85, 8: 0.85, 11: 1.6, 12: 1.9}.get(day.month, 1.0)
    growth = 1.0 + 0.35 * (day - DATA_START).days / (AS_OF - DATA_START).days
    return month_factor * growth


_Row = tuple[object, ...]


def _generate(rng: random.Random) -> dict[str, list[_Row]]:
    """Every table's rows, in insertion order."""
    span = (AS_OF - DATA_START).days  # the last day's offset
    codes = list(_COUNTRY_WEIGHTS)
    country_weights = [_COUNTRY_WEIGHTS[c] for c in codes]

    # Customers: signed up over the period, most of them early; a few buy far more than the rest.
    customers: list[_Row] = []
    signup_days: list[int] = []
    activity: list[float] = []
    customer_country: list[str] = []
    emails: set[str] = set()
    for customer_id in range(1, N_CUSTOMERS + 1):
        country = rng.choices(codes, country_weights)[0]
        firsts, lasts = _NAMES[country]
        first, last = rng.choice(firsts), rng.choice(lasts)
        segment = "business" if rng.random() < 0.18 else "consumer"
        launch = rng.random() < 0.2  # came over from the old shop at launch
        signup = rng.randint(0, 20) if launch else int(rng.betavariate(1.1, 2.2) * (span - 45))
        domain = rng.choice(("example.com", "example.org", "example.net"))
        base = f"{_ascii(first)}.{_ascii(last)}"
        email, n = f"{base}@{domain}", 1
        while email in emails:
            n += 1
            email = f"{base}{n}@{domain}"
        emails.add(email)
        customers.append(
            (
                customer_id,
                f"{first} {last}",
                email,
                country,
                rng.choice(_CITIES[country]),
                segment,
                _day(signup),
            )
        )
        signup_days.append(signup)
        customer_country.append(country)
        weight = min(rng.paretovariate(1.3), 25.0) * (2.5 if segment == "business" else 1.0)
        activity.append(weight * (span - signup) / span)  # late sign-ups have had less time to buy

    # Products: a catalog of plausible items, each priced near its typical price.
    products: list[_Row] = []
    prices: dict[str, float] = {}
    skus: list[str] = []
    popularity: list[float] = []
    for category, (prefix, brands, items) in _CATALOG.items():
        for i, (item, typical) in enumerate(items, start=1):
            sku = f"{prefix}-{i:04d}"
            price = max(4.99, round(typical * rng.uniform(0.9, 1.15)) - 0.01)
            stock = 0 if rng.random() < 0.06 else rng.randint(3, 480)
            products.append((sku, f"{rng.choice(brands)} {item}", category, price, stock))
            prices[sku] = price
            skus.append(sku)
            popularity.append(min(rng.paretovariate(1.4), 12.0) / math.sqrt(price))

    # Orders: a customer by activity, a day after their sign-up (busier in season), then items.
    season = [_season(DATA_START + dt.timedelta(days=d)) for d in range(span + 1)]
    customer_cum = list(_accumulate(activity))
    product_cum = list(_accumulate(popularity))
    drafts: list[tuple[int, int, float]] = []  # (day, customer index, tie-break)
    for _ in range(N_ORDERS):
        c = rng.choices(range(N_CUSTOMERS), cum_weights=customer_cum)[0]
        while True:
            day = rng.randint(signup_days[c], span)
            if rng.random() * 2.3 < season[day]:
                break
        drafts.append((day, c, rng.random()))
    drafts.sort()

    carrier_codes = {name: _ascii(name)[:3].upper() for names in _CARRIERS.values() for name in names}
    orders: list[_Row] = []
    items_rows: list[_Row] = []
    shipments: list[_Row] = []
    shipment_id = 500_001
    for order_id, (day, c, _tie) in enumerate(drafts, start=100_001):
        customer_id = c + 1
        business = customers[c][5] == "business"
        n_lines = rng.choices((1, 2, 3, 4, 5), (45, 28, 15, 8, 4))[0]
        chosen: list[str] = []
        while len(chosen) < n_lines:
            sku = rng.choices(skus, cum_weights=product_cum)[0]
            if sku not in chosen:
                chosen.append(sku)
        total = 0.0
        for line_no, sku in enumerate(chosen, start=1):
            if business:
                quantity = rng.choices((1, 2, 3, 5, 10, 20), (25, 20, 18, 17, 12, 8))[0]
            else:
                quantity = rng.choices((1, 2, 3, 4), (72, 19, 6, 3))[0]
            unit_price = prices[sku]
            if rng.random() < 0.12:  # a promotion
                unit_price = round(unit_price * (1 - rng.choice((0.1, 0.15, 0.2))), 2)
            items_rows.append((order_id, line_no, sku, quantity, unit_price))
            total += quantity * unit_price
        total = round(total, 2)

        # What happened to it, as of the last day of the data.
        ordered = DATA_START + dt.timedelta(days=day)
        shipped = ordered + dt.timedelta(days=rng.choices((0, 1, 2, 3), (20, 45, 25, 10))[0])
        if rng.random() < 0.04:
            status = "cancelled"
        elif shipped >= AS_OF or (AS_OF - ordered).days < 2:
            status = "processing"
        else:
            carriers = _CARRIERS[customer_country[c]]
            parcels = 2 if n_lines >= 3 and rng.random() < 0.15 else 1
            returned = rng.random() < 0.035
            status = "shipped"
            for parcel in range(parcels):
                sent = shipped + dt.timedelta(days=parcel * rng.randint(1, 3))
                if sent > AS_OF:
                    sent = AS_OF
                arrived = sent + dt.timedelta(
                    days=rng.choices((1, 2, 3, 4, 5, 7, 10), (10, 25, 25, 15, 10, 10, 5))[0]
                )
                carrier = rng.choice(carriers)
                tracking = f"{carrier_codes[carrier]}{rng.randrange(10**11, 10**12)}"
                if arrived > AS_OF:
                    ship_status, delivered = "in_transit", None
                else:
                    ship_status, delivered = ("returned" if returned else "delivered"), arrived.isoformat()
                shipments.append(
                    (shipment_id, order_id, carrier, tracking, ship_status, sent.isoformat(), delivered)
                )
                shipment_id += 1
            last = shipments[-parcels:]
            if all(s[4] == "returned" for s in last):
                status = "returned"
            elif all(s[4] != "in_transit" for s in last):
                status = "delivered"
        orders.append((order_id, customer_id, ordered.isoformat(), status, total))

    return {
        "customers": customers,
        "products": products,
        "orders": orders,
        "order_items": items_rows,
        "shipments": shipments,
    }


def _accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


def build_database(path: Path) -> Path:
    """Write the demo database to `path` (replacing it) and return `path`.

    The file is built under a temporary name in the same directory and renamed into
    place, so readers see either the old file or the whole new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tables = _generate(random.Random(SEED))
        conn = sqlite3.connect(tmp)
        try:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.executescript(_SCHEMA_SQL)
            with conn:
                for table, rows in tables.items():
                    marks = ", ".join("?" * len(rows[0]))
                    conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
            conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.commit()
        finally:
            conn.close()
        with open(tmp, "rb+") as fh:  # on disk before it gets its real name
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _is_current(path: Path) -> bool:
    """Whether `path` is a complete demo database of this version."""
    if not path.is_file():
        return False
    try:
        with contextlib.closing(connect_readonly(path, check=False)) as conn:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error:
        return False
    return bool(app_id == _APPLICATION_ID and version == SCHEMA_VERSION)


_lock = threading.Lock()
_ready: set[Path] = set()


def ensure_database(path: Path | None = None) -> Path:
    """The demo database's path, building the file first if it is missing or outdated.

    Cheap after the first call in a process. Threads of one process build it once;
    processes building at the same time each rename a complete file into place.
    """
    target = Path(path) if path is not None else default_path()
    target = target.expanduser().absolute()
    if target in _ready:
        return target
    with _lock:
        if target not in _ready:
            if not _is_current(target):
                build_database(target)
            _ready.add(target)
    return target


def connect_readonly(path: Path, *, check: bool = True) -> sqlite3.Connection:
    """A read-only connection to the database at `path` (`mode=ro`, `query_only`)."""
    if check and not path.is_file():
        raise FileNotFoundError(f"no demo database at {path}")
    uri = f"{path.absolute().as_uri()}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only=ON")
    return conn
