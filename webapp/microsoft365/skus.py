"""Which Microsoft SKU part numbers a plan name stands for: the data table in data/skus.csv.

The table is taken from Microsoft's "Product names and service plan identifiers for licensing" (the
version named in the file's header). A plan is looked up by its plan key (webapp.licenses.plans), so
"office 365 e3" and "Office 365  E3" find the same row.
"""
import csv
from functools import cache
from pathlib import Path

from ..licenses.plans import plan_key

TABLE = Path(__file__).resolve().parent / "data" / "skus.csv"


@cache
def _table():
    """{plan key: (product name, (part number, ...))} from the CSV, read once."""
    lines = [line for line in TABLE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    by_key = {}
    for row in csv.DictReader(lines):
        names = [row["product_name"], *filter(None, (n.strip() for n in row["also_called"].split("|")))]
        for name in names:
            product, parts = by_key.get(plan_key(name), (row["product_name"], ()))
            if row["string_id"] not in parts:
                parts = (*parts, row["string_id"])
            by_key[plan_key(name)] = (product, parts)
    return by_key


def part_numbers(plan):
    """The SKU part numbers (skuPartNumber) Microsoft reports for this plan name; () for a plan not in the table."""
    found = _table().get(plan_key(plan or ""))
    return found[1] if found else ()


def product_name(plan):
    """Microsoft's product name for the plan, or None when the table does not know it."""
    found = _table().get(plan_key(plan or ""))
    return found[0] if found else None


def source_version():
    """The header line that names the version of Microsoft's list the table was taken from."""
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if "last updated on" in line:
            return line.lstrip("# ").strip()
    return ""
