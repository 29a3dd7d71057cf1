"""The URLs of a table's rows: one url_for per column of links, not one per row.

A page of 25 licenses asked url_for for about a hundred links that differ only in the id; each call
walks Flask's and Werkzeug's URL building. `row_url` builds the endpoint's URL once, for an id
that marks the spot, and each row fills in its own id.
"""
from flask import url_for

from .row_ids import MAX_ROW_ID

_MARK = str(MAX_ROW_ID)


class RowUrl:
    """url_for(endpoint, <id_name>=row_id, **values) for any row id, built once."""

    def __init__(self, endpoint, id_name, **values):
        built = url_for(endpoint, **{id_name: MAX_ROW_ID}, **values)
        if built.count(_MARK) != 1:
            raise ValueError(f"cannot find the row id in the URL of {endpoint}: {built}")
        self._head, _, self._tail = built.partition(_MARK)

    def __call__(self, row_id):
        # int(): only a number goes into the URL, as the <int:…> converter would write it.
        return f"{self._head}{int(row_id)}{self._tail}"


def register(app):
    """Templates build a column's links with `{% set edit_url = row_url("area.endpoint", "id_name") %}`."""
    app.jinja_env.globals["row_url"] = RowUrl
