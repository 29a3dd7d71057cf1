"""Peewee SELECTs turned into SQL once, then run with each request's values; rows named by their columns.

Peewee builds a query's SQL anew every time it runs, walking the whole expression tree. For the
queries behind every page (the signed-in session, the Client Licenses rows) that walk cost several
times more than running the query. A CompiledSelect builds its query once, with named placeholders
where a request's values go, keeps the SQL per kind of database (`?` or `%s`, quoting), and gives
each row converted by the selected fields as Peewee converts them.

A row is never read by position. A RowShape names a row type and the columns that fill it, and the
query selects `*shape.columns`:

    PROOF = RowShape(ProofSummary, ProofDocument.id, ProofDocument.original_name, ProofDocument.size)
    LICENSE = RowShape(LicenseRow, License.id, License.plan, proof=PROOF)

Each column fills the field of its name (a foreign key's `account_id`, an aliased field's alias), a
keyword fills a field with a nested row, and the shape refuses, when it is declared, a field no
column fills, a column no field takes and two columns of one name. The compiled query refuses a
selected column the shape does not name. Adding a column is one edit where the row type is declared:
the field on the named tuple, the column in its shape.

It keeps SQL text only, never a value or a row: nothing of one request can reach another.

`rows_of` reads any SELECT the same way, converted column by column (`value_reader`), without
Peewee's per-row machinery: pages that read a thousand rows spent most of their time there.
"""
from datetime import date, datetime
from functools import partial
from operator import itemgetter

from peewee import (
    Alias,
    AutoField,
    CharField,
    DateField,
    DateTimeField,
    Field,
    ForeignKeyField,
    IntegerField,
    Model,
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


def column_name(column):
    """The name a selected column fills in a row: an alias, a foreign key's `<name>_id`, a field's name."""
    if isinstance(column, Alias) and isinstance(column.unwrap(), Field):
        return column._alias
    if isinstance(column, ForeignKeyField):
        return column.object_id_name
    if isinstance(column, Field):
        return column.name
    raise TypeError(f"a row is filled from model fields (aliased or not), not {column!r}")


class RowShape:
    """A row type and the selected columns that fill it, matched by name.

    `row_type` is a named tuple: each of its fields is filled by the one column of that name, or by
    the nested RowShape given for it by keyword. Or a model: the columns are its own fields, set as
    Peewee sets a row it reads (no defaults, nothing dirty), a keyword sets a foreign key's instance.
    `optional`: the nested row is None when its `id` column is NULL (a LEFT OUTER JOIN found none).
    A mismatch raises ValueError here, when the module declaring the shape is imported.
    """

    __slots__ = ("type", "own", "nested", "optional", "columns")

    def __init__(self, row_type, *columns, optional=False, **nested):
        self.type = row_type
        self.own = {}
        for column in columns:
            name = column_name(column)
            if name in self.own or name in nested:
                raise ValueError(f"{row_type.__name__}: two columns named {name!r}")
            self.own[name] = column
        for name, shape in nested.items():
            if not isinstance(shape, RowShape):
                raise TypeError(f"{row_type.__name__}.{name}: a nested row is a RowShape, not {shape!r}")
        self.nested = nested
        self.optional = optional
        if optional and "id" not in self.own:
            raise ValueError(f"{row_type.__name__}: an optional row needs its id column, NULL when there is none")
        if isinstance(row_type, type) and issubclass(row_type, Model):
            self._check_model()
            names = [*self.own, *nested]
        elif isinstance(row_type, type) and issubclass(row_type, tuple) and hasattr(row_type, "_fields"):
            self._check_named_tuple()
            names = row_type._fields
        else:
            raise TypeError(f"a row type is a named tuple or a model, not {row_type!r}")
        self.columns = tuple(
            column
            for name in names
            for column in (nested[name].columns if name in nested else (self.own[name],))
        )

    def _check_named_tuple(self):
        fields, names = set(self.type._fields), {*self.own, *self.nested}
        unfilled, untaken = sorted(fields - names), [name for name in names if name not in fields]
        if unfilled:
            raise ValueError(f"{self.type.__name__}: no column fills {', '.join(unfilled)}")
        if untaken:
            raise ValueError(f"{self.type.__name__} has no field for the column(s) {', '.join(untaken)}")

    def _check_model(self):
        model = self.type
        for name, column in self.own.items():
            if not isinstance(column, Field) or column.model is not model:
                raise ValueError(f"{model.__name__}: {name} is not one of its own fields")
        for name, shape in self.nested.items():
            field = model._meta.fields.get(name)
            if not isinstance(field, ForeignKeyField) or field.rel_model is not shape.type:
                raise ValueError(f"{model.__name__}.{name} is not a foreign key to {shape.type.__name__}")

    def reader(self, selected):
        """A function from a driver's row of the columns `selected` (in select order) to this shape's row,
        each value converted as Peewee converts it.

        Refuses a selected column the shape does not name, and a column of the shape not selected.
        """
        index = {id(column): position for position, column in enumerate(selected)}
        named = {id(column) for column in self.columns}
        unnamed = [column for column in selected if id(column) not in named]
        if unnamed:
            raise ValueError(f"{self.type.__name__}: {_listed(unnamed)} selected but named in no row type")
        missing = [column for column in self.columns if id(column) not in index]
        if missing:
            raise ValueError(f"{self.type.__name__}: {_listed(missing)} named but not selected")
        converting = tuple(
            (position, convert)
            for position, convert in enumerate(value_reader(column) for column in selected)
            if convert is not None
        )
        steps = []
        self._plan(index, len(selected), steps)
        return _reader(converting, steps)

    def _plan(self, index, width, steps):
        """Add the steps that build this row after its nested rows; each step's row goes at the end of the
        row being read (at `width + its step number`). Returns where this row will be."""
        positions = {name: shape._plan(index, width, steps) for name, shape in self.nested.items()}
        positions.update((name, index[id(column)]) for name, column in self.own.items())
        if issubclass(self.type, Model):
            names = (*self.own, *self.nested)
            make = _model_maker(self.type, names)
        else:
            names = self.type._fields
            make = partial(tuple.__new__, self.type)
        take = _taker([positions[name] for name in names])
        steps.append((make, take, positions["id"] if self.optional else None))
        return width + len(steps) - 1


def _listed(columns):
    return ", ".join(
        f"{column.unwrap().model.__name__}.{column.unwrap().name}" if isinstance(column.unwrap(), Field)
        else repr(column)
        for column in columns
    )


def _taker(positions):
    """The values at `positions` of a row, as a tuple."""
    if len(positions) == 1:
        position = positions[0]
        return lambda row: (row[position],)
    return itemgetter(*positions)


def _model_maker(model, names):
    """A model instance from its values for `names`, as Peewee makes one it reads: no defaults, nothing dirty.

    Its own columns come first, then the foreign keys set to the instance read for them (user.account, or None).
    """
    def make(values):
        instance = model(__no_default__=True)
        for name, value in zip(names, values):
            setattr(instance, name, value)
        instance._dirty.clear()
        return instance
    return make


def _reader(converting, steps):
    """One row from the driver: its values converted, then each row of the shape built in turn."""
    if len(steps) == 1:
        ((make, take, _),) = steps  # an outer row is never optional

        def read(row):
            if converting:
                row = list(row)
                for position, convert in converting:
                    if row[position] is not None:
                        row[position] = convert(row[position])
            return make(take(row))
        return read

    def read_nested(row):
        row = list(row)
        for position, convert in converting:
            if row[position] is not None:
                row[position] = convert(row[position])
        # Nested rows first: each is appended to the row, where its parent's step takes it.
        for make, take, key in steps:
            row.append(None if key is not None and row[key] is None else make(take(row)))
        return row[-1]
    return read_nested


class CompiledStatement:
    """A statement built by `build()` once per kind of database; cursor(**values) runs it with the values
    for its placeholders and gives the driver's cursor (rows as the driver gives them)."""

    def __init__(self, build):
        self.build = build
        self._compiled = {}

    def _reader_for(self, query):
        return None

    def _compile(self, database):
        query = self.build()
        read = self._reader_for(query)
        sql, params = database.get_sql_context().sql(query).query()
        slots = [(index, param.name) for index, param in enumerate(params) if isinstance(param, _Placeholder)]
        compiled = self._compiled[type(database)] = (sql, params, slots, read)
        return compiled

    def _run(self, values):
        database = getattr(db.database, "obj", db.database)
        sql, params, slots, read = self._compiled.get(type(database)) or self._compile(database)
        params = list(params)
        for index, name in slots:
            params[index] = values[name]
        if len(values) != len({name for _, name in slots}):
            raise TypeError(f"unknown placeholder values: {sorted(set(values) - {name for _, name in slots})}")
        return database.execute_sql(sql, params), read

    def cursor(self, **values):
        """The driver's cursor for these placeholder values."""
        return self._run(values)[0]


class CompiledSelect(CompiledStatement):
    """A SELECT built by `build()` once per kind of database; run(**values) gives its rows, shaped by `shape`.

    `build` selects `*shape.columns`; any other column fails the first run, when the SQL is built.
    """

    def __init__(self, shape, build):
        super().__init__(build)
        self.shape = shape

    def _reader_for(self, query):
        return self.shape.reader(query.selected_columns)

    def run(self, **values):
        """The rows for these placeholder values, each a row of the shape."""
        cursor, read = self._run(values)
        return list(map(read, cursor.fetchall()))


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
    if isinstance(column, Alias):
        column = column.unwrap()
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


def rows_of(query, shape):
    """A SELECT's rows, each a row of `shape` (which the query selects), read one at a time from the cursor."""
    return map(shape.reader(query.selected_columns), db.database.execute(query))
