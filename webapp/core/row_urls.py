"""The links of a table's rows: one url_for per kind of link and request, not one per row.

A page of 25 licenses asked url_for for about a hundred links that differ only in the id, and each
call walks Flask's and Werkzeug's URL building. `row_url("portal.update_license", license_id=7)`
gives what url_for would: it builds the endpoint's URL once per request, for an id that marks the
spot, and fills in each row's id. It keeps URL shapes only (no ids, nothing from the database), and
only for the request that built them.
"""
from flask import g, url_for

from .row_ids import MAX_ROW_ID

_MARK = str(MAX_ROW_ID)


def _pattern(endpoint, id_name):
    built = url_for(endpoint, **{id_name: MAX_ROW_ID})
    if built.count(_MARK) != 1:
        raise ValueError(f"cannot find the row id in the URL of {endpoint}: {built}")
    head, _, tail = built.partition(_MARK)
    return head, tail


def row_url(endpoint, **row_id):
    """url_for(endpoint, <name>=id) for a URL whose only value is one row id."""
    (id_name, value), = row_id.items()
    patterns = g.setdefault("row_url_patterns", {})
    key = (endpoint, id_name)
    if key not in patterns:
        patterns[key] = _pattern(endpoint, id_name)
    head, tail = patterns[key]
    # int(): only a number goes into the URL, as the <int:…> converter would write it.
    return f"{head}{int(value)}{tail}"


def register(app):
    app.jinja_env.globals["row_url"] = row_url
