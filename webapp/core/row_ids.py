"""Row ids from outside (URL parts, form fields): a whole number a database id column can hold, or nothing.

Python reads "²", "١٢" or 10**23 as numbers the databases cannot compare with an id column (SQLite
raises OverflowError past 64 bits); every id the app takes from a request goes through here, so an
impossible one is "not found" (404) or a form error (422), never a server error.
"""
import re

from werkzeug.routing import IntegerConverter
from wtforms import HiddenField

# Peewee's AutoField is a 32-bit SERIAL on PostgreSQL; SQLite's 64-bit INTEGER holds the same range.
MAX_ROW_ID = 2**31 - 1
_ROW_ID = re.compile(r"[0-9]{1,10}")


def parse_row_id(value):
    """The id `value` names (ASCII digits, 1 to MAX_ROW_ID), or None when it cannot name a row."""
    if not isinstance(value, str) or not _ROW_ID.fullmatch(value):
        return None
    row_id = int(value)
    return row_id if 1 <= row_id <= MAX_ROW_ID else None


class RowIdConverter(IntegerConverter):
    """The app's `<int:…>` URL converter: ASCII digits only, 1 to MAX_ROW_ID; anything else does not match (404)."""

    regex = r"[0-9]+"

    def __init__(self, map, fixed_digits=0, min=1, max=MAX_ROW_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class RowIdField(HiddenField):
    """A hidden id field: `data` is the id, or None for an empty, non-numeric or out-of-range value."""

    def process_formdata(self, valuelist):
        self.data = parse_row_id(valuelist[0].strip()) if valuelist else None

    def _value(self):
        return str(self.data) if self.data is not None else ""
