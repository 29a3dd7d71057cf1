"""Text from the outside: which characters a field refuses, how text is cleaned for a terminal or a
mail header, and the key under which two plan names are the same plan. Plain functions, no Flask."""
import unicodedata

# Control (Cc), format (Cf: zero-width, soft hyphen, bidi overrides, BOM), surrogate (Cs), and the
# line and paragraph separators (Zl, Zp), which end a line for many programs though not for Python.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
# What a multi-line field may hold among those: a line break and a tab.
MULTILINE_ALLOWED = frozenset("\t\n\r")


def hidden_character(value, multiline=False):
    """The first control, format or separator character in `value` (None when there is none).

    `multiline` allows tab, newline and carriage return, for fields that hold several lines.
    """
    for ch in value:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES and not (multiline and ch in MULTILINE_ALLOWED):
            return ch
    return None


def describe_character(ch):
    """'U+200B ZERO WIDTH SPACE', or just the code point when Unicode gives it no name (controls)."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}".rstrip()


def printable(value):
    """`value` as one line safe for a terminal or a mail header: line breaks, tabs and other
    whitespace controls become spaces; every other control, format or separator character (terminal
    escapes, bell, bidi overrides, zero-width characters) is removed."""
    return "".join(
        (" " if ch.isspace() else "") if unicodedata.category(ch) in _REFUSED_CATEGORIES else ch
        for ch in str(value)
    )


def plan_key(plan):
    """The plan name as compared for uniqueness within an account and product.

    NFKC folds compatibility forms (full-width letters, ligatures, no-break and ideographic spaces)
    into their plain letters; case folding ignores case; control and format characters (zero-width
    space, soft hyphen, bidi overrides) are removed; runs of whitespace become one space. The
    casefold/normalise sequence is Unicode's caseless identifier match (D147), so the key is stable:
    plan_key(plan_key(x)) == plan_key(x). Letters of other scripts that only look alike (Cyrillic
    'о', Latin 'o') stay different: see the README.
    """
    text = "".join(
        " " if ch.isspace() else ch
        for ch in plan
        if unicodedata.category(ch) not in {"Cc", "Cf"} or ch.isspace()
    )
    text = unicodedata.normalize("NFD", text).casefold()
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKD", text).casefold())
    # NFKC can bring format characters back from compatibility forms; remove those too.
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return " ".join(text.split())
