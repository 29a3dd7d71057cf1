"""Recompute every license's plan key under the NFKC rule: NFKC-normalised, case-folded,
control and format characters removed, whitespace collapsed. Data only; the schema is unchanged.

Two licenses of one account and product whose plans were different under the old key (lower-cased,
single-spaced) can be the same plan under the new one, e.g. "Office 365 E3" and its full-width
"Ｏｆｆｉｃｅ 365 E3". No license is lost or merged: the oldest (lowest id) takes the key, and each
later one keeps a key of its own, the new key followed by U+2063 INVISIBLE SEPARATOR and its id.
No plan name can give that key (format characters are removed from keys), so those licenses stay
as they are, with their versions and proof, while a new license for that plan is refused as a
duplicate of the oldest. Each such pair is printed, for staff to resolve with the customer.

A key longer than the column (200) is cut to it; the form refuses such names since this release.
"""
import unicodedata

KEY_LENGTH = 200
DUPLICATE_MARK = "\u2063"


def plan_key(plan):
    """A frozen copy of the plan key rule (webapp.licenses.plans.plan_key today) as of this migration (never import webapp code here)."""
    text = "".join(
        " " if ch.isspace() else ch
        for ch in plan
        if unicodedata.category(ch) not in {"Cc", "Cf"} or ch.isspace()
    )
    text = unicodedata.normalize("NFD", text).casefold()
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKD", text).casefold())
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())[:KEY_LENGTH]


def new_keys(rows):
    """{license id: new key} for rows of (id, account id, product id, plan), and the collisions as
    (kept id, other id, plan of the other)."""
    keys, owner, collisions = {}, {}, []
    for license_id, account_id, product_id, plan in sorted(rows):
        key = plan_key(plan)
        first = owner.setdefault((account_id, product_id, key), license_id)
        if first != license_id:
            suffix = f"{DUPLICATE_MARK}{license_id}"
            key = key[: KEY_LENGTH - len(suffix)] + suffix
            collisions.append((first, license_id, plan))
        keys[license_id] = key
    return keys, collisions


def up(migrator, db):
    rows = db.execute_sql('SELECT "id", "account_id", "product_id", "plan", "plan_key" FROM "license"').fetchall()
    old = {row[0]: row[4] for row in rows}
    keys, collisions = new_keys([row[:4] for row in rows])
    changed = sorted(license_id for license_id, key in keys.items() if key != old[license_id])
    update = f'UPDATE "license" SET "plan_key" = {db.param} WHERE "id" = {db.param}'
    # Two passes, so a key that moves to where another row's old key was never meets it on the way.
    for license_id in changed:
        db.execute_sql(update, [f"{DUPLICATE_MARK}moving{DUPLICATE_MARK}{license_id}", license_id])
    for license_id in changed:
        db.execute_sql(update, [keys[license_id], license_id])
    for kept, other, plan in collisions:
        print(f"0003_plan_key_nfkc: license {other} ({plan!r}) is the same plan as license {kept} under the "
              "new rule; both kept, resolve with the customer.")
