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
