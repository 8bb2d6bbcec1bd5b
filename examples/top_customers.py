# Which three customers spent most in the last quarter of 2025, and what did each buy most?
rows = query(
    """
    SELECT o.customer_id, SUM(o.total) AS spent
    FROM orders o
    WHERE o.order_date BETWEEN '2025-10-01' AND '2025-12-31' AND o.status != 'cancelled'
    GROUP BY o.customer_id ORDER BY spent DESC LIMIT 3
    """
)
answer = []
for row in rows:
    customer = get_customer(row["customer_id"])
    counts = {}
    for order in list_orders(customer_id=row["customer_id"], since="2025-10-01", until="2025-12-31"):
        for item in get_order(order["order_id"])["items"]:
            counts[item["name"]] = counts.get(item["name"], 0) + item["quantity"]
    favourite = max(counts, key=lambda name: counts[name])
    answer.append({"customer": customer["name"], "spent": round(row["spent"], 2), "bought most": favourite})
answer
