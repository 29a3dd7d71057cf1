"""Peewee SELECTs turned into SQL once, then run with each request's values.

Peewee builds a query's SQL anew every time it runs, walking the whole expression tree. For the
queries behind every page (the signed-in session, the Client Licenses rows) that walk cost several
times more than running the query. A CompiledSelect builds its query once, with named placeholders
where a request's values go, keeps the SQL per kind of database (`?` or `%s`, quoting), and gives
each row as a tuple, converted by the selected fields as Peewee converts them.

It keeps SQL text only, never a value or a row: nothing of one request can reach another.
"""
from peewee import Field, Value

from .extensions import db


class _Placeholder:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


def placeholder(name):
    """Where the value named `name` goes when the query runs, e.g. `License.account == placeholder("account_id")`."""
    # converter=False: the marker itself becomes the statement's parameter, for run() to replace.
    return Value(_Placeholder(name), converter=False)


class CompiledSelect:
    """A SELECT built by `build()` once per kind of database; run(**values) gives its rows as tuples."""

    def __init__(self, build):
        self._build = build
        self._compiled = {}

    def _compile(self, database):
        query = self._build()
        sql, params = database.get_sql_context().sql(query).query()
        slots = [(index, param.name) for index, param in enumerate(params) if isinstance(param, _Placeholder)]
        converters = tuple(
            column.python_value if isinstance(column, Field) else None for column in query.selected_columns
        )
        compiled = self._compiled[type(database)] = (sql, params, slots, converters)
        return compiled

    def run(self, **values):
        """The rows for these placeholder values, each a tuple of Python values."""
        database = getattr(db.database, "obj", db.database)
        sql, params, slots, converters = self._compiled.get(type(database)) or self._compile(database)
        params = list(params)
        for index, name in slots:
            params[index] = values[name]
        if len(values) != len({name for _, name in slots}):
            raise TypeError(f"unknown placeholder values: {sorted(set(values) - {name for _, name in slots})}")
        cursor = database.execute_sql(sql, params)
        return [
            tuple(value if convert is None or value is None else convert(value)
                  for convert, value in zip(converters, row))
            for row in cursor.fetchall()
        ]


def as_model(model, fields, values, **related):
    """A model instance from a row's values for `fields` (its own), unchanged as far as save() knows.

    `related` sets foreign keys to instances already read (user.account). What Peewee's own row
    readers do: no defaults filled in, and no field counted as changed.
    """
    data = {field.name: value for field, value in zip(fields, values)}
    data.update(related)
    instance = model(__no_default__=True, **data)
    instance._dirty.clear()
    return instance
