"""Peewee SELECTs turned into SQL once, then run with each request's values.

Peewee builds a query's SQL anew every time it runs, walking the whole expression tree. For the
queries behind every page (the signed-in session, the Client Licenses rows) that walk cost several
times more than running the query. A CompiledSelect builds its query once, with named placeholders
where a request's values go, keeps the SQL per kind of database (`?` or `%s`, quoting), and gives
each row as a tuple, converted by the selected fields as Peewee converts them.

It keeps SQL text only, never a value or a row: nothing of one request can reach another.

`rows_of` reads any SELECT the same way, as tuples converted column by column (`value_reader`),
without Peewee's per-row machinery: pages that read a thousand rows spent most of their time there.
"""
from datetime import date, datetime

from peewee import (
    AutoField,
    CharField,
    DateField,
    DateTimeField,
    Field,
    ForeignKeyField,
    IntegerField,
    TextField,
    Value,
)

from ..extensions import db


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
        converters = tuple(value_reader(column) for column in query.selected_columns)
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
        return list(_converted(database.execute_sql(sql, params).fetchall(), converters))


def _iso_reader(parse, field):
    def read(value):
        # The text SQLite keeps (or a driver's date object): the standard library's ISO reader gives what
        # Peewee gives, several times faster; anything else takes Peewee's own path, with its result.
        if value.__class__ is str:
            try:
                return parse(value)
            except ValueError:
                pass
        return field.python_value(value)
    return read


def value_reader(column):
    """How a selected column's value from the driver becomes its Python value, as Peewee converts it (None: as is)."""
    if isinstance(column, ForeignKeyField):
        column = column.rel_field
    if isinstance(column, DateTimeField):
        return _iso_reader(datetime.fromisoformat, column)
    if isinstance(column, DateField):
        return _iso_reader(date.fromisoformat, column)
    # Integers and text come from both drivers as Peewee would give them (SQLite's column affinity
    # stores integer-looking values of an INTEGER column as integers, anything in a text column as text).
    # Exactly these integer types: a subclass may convert (TimestampField gives a datetime).
    if type(column) in (IntegerField, AutoField) or isinstance(column, (CharField, TextField)):
        return None
    return column.python_value if isinstance(column, Field) else None


def _converted(rows, converters):
    converting = [(index, convert) for index, convert in enumerate(converters) if convert is not None]
    if not converting:
        yield from map(tuple, rows)
        return
    for row in rows:
        row = list(row)
        for index, convert in converting:
            if row[index] is not None:
                row[index] = convert(row[index])
        yield tuple(row)


def rows_of(query):
    """A SELECT's rows as tuples of Python values, read one at a time from the cursor, as Peewee's .tuples()."""
    converters = [value_reader(column) for column in query.selected_columns]
    return _converted(db.database.execute(query), converters)


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
