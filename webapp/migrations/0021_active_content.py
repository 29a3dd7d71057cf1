"""Active content in PDFs: each proof document records what it was found to carry when it was read
(JavaScript, an action on opening, a launch action, embedded files, additional actions), so staff
are warned before they open it. Documents stored before this release record none (they were not
scanned); their check says so no differently than before.
"""
from peewee import CharField


def up(migrator, db):
    migrator.migrate(migrator.add_column("proofdocument", "active_content", CharField(max_length=100, default="")))
