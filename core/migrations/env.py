"""Alembic environment shared by the core and every plugin.

StreetBrain runs Alembic programmatically (see :mod:`core.migrator`): the caller passes an open
connection and a :class:`core.migrator.MigrationTarget` through ``config.attributes``. Each
target (the core, or one plugin) has its own version folder and its own version table, and
sees only the tables it owns, so plugins migrate, and autogenerate, independently.
"""

from alembic import context

config = context.config
target = config.attributes["target"]
connection = config.attributes["connection"]


def render_item(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    """Render types stored as their plain implementation (``migrate_as_impl``, e.g. encrypted personal
    data is a string column) as that; import the module of any other type not SQLAlchemy's own."""
    if type_ != "type":
        return False
    if getattr(obj, "migrate_as_impl", False):
        return f"sa.{obj.impl!r}"
    if not type(obj).__module__.startswith("sqlalchemy"):
        autogen_context.imports.add(f"import {type(obj).__module__}")
    return False


context.configure(
    connection=connection,
    target_metadata=target.metadata,
    version_table=target.version_table,
    include_object=target.include_object,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)

with context.begin_transaction():
    context.run_migrations()
