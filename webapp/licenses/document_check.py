"""What a proof document says, against what the customer entered: the plan name, the
number of licenses (seats), the expiration date and the tenant, each found, not found, or
different (with what the document says instead).

Plain functions over strings and dates; no Flask, no database, no pypdf. The text is NFKC-normalised
and its whitespace collapsed first, so full-width digits, no-break spaces and line breaks in the
middle of a phrase do not hide a match. Matching ignores case.

"Different" needs the document to name the field: a number next to "licenses"/"seats"/"users", a
date after "expires"/"renewal"/"ends"/"valid until"…, another `*.onmicrosoft.com` domain, another
Microsoft/Office 365 plan name. A value the document does not name at all is "not found", so staff
look at the document themselves rather than trust a guess.
"""
import re
import unicodedata
from dataclasses import dataclass
from datetime import date

FOUND = "found"
NOT_FOUND = "not_found"
DIFFERENT = "different"

# What the document says is shown to staff; a snippet longer than this is cut.
SEEN_MAX = 80
# How far before a date (in characters) a word such as "expires" still labels it.
LABEL_REACH = 60

MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MONTH_NAME = (r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
               r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
_MONTH = rf"(?P<month>{_MONTH_NAME})\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"
DATE_FORMS = (
    # 2027-03-31, 2027/03/31, 2027.03.31
    re.compile(r"(?<![\d.])(?P<year>\d{4})(?P<sep>[-/.])(?P<mm>\d{1,2})(?P=sep)(?P<dd>\d{1,2})(?![\d])"),
    # 31/03/2027, 03/31/2027, 31.03.2027, 31-03-2027 (day and month told apart by the entered date)
    re.compile(r"(?<![\d.])(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4})(?!\d)"),
    # 31 March 2027, 31 Mar 2027, 31st of March, 2027, 31-Mar-2027 (English month names only)
    re.compile(rf"(?<![\d.])(?P<day>\d{{1,2}}){_ORDINAL}\.?[ -]?(?:of )?\b{_MONTH}[ ,-]*(?P<year>\d{{4}})(?!\d)",
               re.IGNORECASE),
    # March 31, 2027, Mar 31 2027, Mar. 31st, 2027
    # (OCR may read the comma as a full stop: "Dec 31. 2027")
    re.compile(rf"\b{_MONTH} ?(?P<day>\d{{1,2}}){_ORDINAL}[,.]? ?(?P<year>\d{{4}})(?!\d)", re.IGNORECASE),
)
EXPIRY_WORDS = re.compile(
    r"expir|renew|end date|\bends?\b|ending|valid (?:until|through|thru|to)|\buntil\b|next (?:billing|charge)"
    r"|term end|subscription end|cancel",
    re.IGNORECASE,
)

_NUMBER = r"\d{1,3}(?:[,.' ]\d{3})+(?![\d])|\d+"
_SEAT_WORDS = r"licen[cs]es?|seats?|users?"
# "20 of", "20 assigned of", "20/": a part of the count that follows, which is the one that counts.
_PART_OF = rf"(?:{_NUMBER})(?: (?:assigned|used|active|available|in use))?(?: of |/| / )"
SEAT_FORMS = (
    # 25 licenses, 1,000 user licenses, 20 of 25 licenses, 20/25 seats
    re.compile(
        rf"(?<![\w.,])(?<!microsoft )(?<!office )(?:{_PART_OF})?(?P<n>{_NUMBER})"
        rf" (?:[a-z]+ ){{0,2}}?(?:{_SEAT_WORDS})\b",
        re.IGNORECASE,
    ),
    # Licenses: 25, Total licenses 25, Quantity: 1.000, Licenses 20 of 25, Licenses | 25 (a table's rule, OCR'd)
    re.compile(
        rf"\b(?:{_SEAT_WORDS}|quantity|qty)(?: \([^)]{{0,30}}\))?[:=| -]{{0,3}}(?:{_PART_OF})?"
        rf"(?P<n>{_NUMBER})(?![\d/.-]*\d)(?! ?(?:{_MONTH_NAME})\b)",
        re.IGNORECASE,
    ),
)
TENANT = re.compile(r"(?<![\w.-])(?P<name>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?) ?\. ?onmicrosoft ?\. ?com\b",
                    re.IGNORECASE)
PLAN_NAME = re.compile(
    r"(?<!\w)(?:microsoft|office|m) ?365 (?:business (?:basic|standard|premium)|apps for (?:business|enterprise)"
    r"|enterprise [ea]\d|[eafg]\d)(?!\w)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class FieldCheck:
    """One entered value against the document: its state, and what the document says when different."""

    state: str
    seen: str = ""


@dataclass(frozen=True)
class ProofComparison:
    plan: FieldCheck
    seats: FieldCheck
    expires_on: FieldCheck
    tenant: FieldCheck

    def fields(self):
        """(name, FieldCheck) for each field, in the order staff read them."""
        return [("plan", self.plan), ("seats", self.seats), ("expires_on", self.expires_on), ("tenant", self.tenant)]


def clean_text(text, max_chars):
    """Extracted text fit to store and show: NFKC, no control, format (bidi) or surrogate characters, cut."""
    kept = []
    for ch in text[: max_chars * 2]:
        category = unicodedata.category(ch)
        if ch in "\n\t":
            kept.append(ch)
        elif category == "Cc":
            kept.append(" ")
        elif category not in ("Cf", "Cs", "Co"):
            kept.append(ch)
    return unicodedata.normalize("NFKC", "".join(kept))[:max_chars]


def normalise(text):
    """NFKC with whitespace collapsed to single spaces; case is left to the patterns."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _seen(snippet):
    snippet = " ".join(snippet.split())
    return snippet if len(snippet) <= SEEN_MAX else snippet[: SEEN_MAX - 1] + "…"


def _valid_date(year, month, day):
    try:
        return date(year, month, day)
    except ValueError:
        return None


@dataclass(frozen=True)
class DateMention:
    start: int
    raw: str
    dates: frozenset


def find_dates(text):
    """Every date written in `text` (normalised) in a supported form, with the dates it may mean.

    A numeric day/month form such as 03/04/2027 may mean 3 April or 4 March; both are kept.
    """
    mentions = []
    for form in DATE_FORMS:
        for match in form.finditer(text):
            parts = match.groupdict()
            year = int(parts["year"])
            if parts.get("month"):
                candidates = [(year, MONTHS[parts["month"][:3].lower()], int(parts["day"]))]
            elif parts.get("mm"):
                candidates = [(year, int(parts["mm"]), int(parts["dd"]))]
            else:
                a, b = int(parts["a"]), int(parts["b"])
                candidates = [(year, b, a), (year, a, b)]
            dates = frozenset(d for d in (_valid_date(*c) for c in candidates) if d)
            if dates:
                mentions.append(DateMention(match.start(), match.group(0), dates))
    return sorted(mentions, key=lambda mention: mention.start)


def _number(raw):
    return int(re.sub(r"[,.' ]", "", raw))


def find_seat_counts(text):
    """(value, as written) of every number the document gives as a count of licenses, seats or users."""
    counts = []
    for form in SEAT_FORMS:
        for match in form.finditer(text):
            counts.append((match.start("n"), _number(match.group("n")), match.group("n")))
    return [(value, raw) for _, value, raw in sorted(counts)]


def find_tenants(text):
    """Every `*.onmicrosoft.com` domain in the text, lower-cased, in order."""
    return [f"{match.group('name').lower()}.onmicrosoft.com" for match in TENANT.finditer(text)]


# Characters OCR takes for one another in a plan's name ("Office 365 ES" for E5, "El" for E1):
# folded alike on both sides when the plan is not found as written.
_OCR_LOOKALIKES = str.maketrans({"5": "s", "0": "o", "1": "l", "i": "l", "8": "b"})


def _plan_pattern(words):
    return r"(?<!\w)" + r"[\W_]*".join(re.escape(word) for word in words) + r"(?!\w)"


def check_plan(text, plan):
    words = re.findall(r"\w+", normalise(plan))
    if not words:
        return FieldCheck(NOT_FOUND)
    if re.search(_plan_pattern(words), text, re.IGNORECASE):
        return FieldCheck(FOUND)
    folded = [word.lower().translate(_OCR_LOOKALIKES) for word in words]
    if re.search(_plan_pattern(folded), text.lower().translate(_OCR_LOOKALIKES)):
        return FieldCheck(FOUND)
    other = PLAN_NAME.search(text)
    return FieldCheck(DIFFERENT, _seen(other.group(0))) if other else FieldCheck(NOT_FOUND)


def check_seats(text, seats):
    counts = find_seat_counts(text)
    if any(value == seats for value, _ in counts):
        return FieldCheck(FOUND)
    return FieldCheck(DIFFERENT, _seen(counts[0][1])) if counts else FieldCheck(NOT_FOUND)


def check_expiry(text, expires_on):
    mentions = find_dates(text)
    if any(expires_on in mention.dates for mention in mentions):
        return FieldCheck(FOUND)
    for mention in mentions:
        if EXPIRY_WORDS.search(text, max(0, mention.start - LABEL_REACH), mention.start):
            return FieldCheck(DIFFERENT, _seen(mention.raw))
    return FieldCheck(NOT_FOUND)


def check_tenant(text, tenant):
    entered = normalise(tenant).lower()
    tenants = find_tenants(text)
    if entered in tenants:
        return FieldCheck(FOUND)
    return FieldCheck(DIFFERENT, _seen(tenants[0])) if tenants else FieldCheck(NOT_FOUND)


def compare_terms(text, *, plan, seats, expires_on, tenant):
    """Each entered value against the document's text (as read, any length already capped)."""
    text = normalise(text)
    return ProofComparison(
        plan=check_plan(text, plan),
        seats=check_seats(text, seats),
        expires_on=check_expiry(text, expires_on),
        tenant=check_tenant(text, tenant),
    )
