"""household months without rowid

On SQLite, rebuild ``waste_sorting_household_months`` as a WITHOUT ROWID table (its rows kept in
the primary key's B-tree), copying its rows; PostgreSQL has no such option and is left as it is.

Revision ID: 178aad0074ee
Revises: 8f2886a1422b
Create Date: 2026-11-29 18:01:20.733934
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "178aad0074ee"
down_revision: str | Sequence[str] | None = "8f2886a1422b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "waste_sorting_household_months"


def _rebuild(with_rowid: bool) -> None:
    """Recreate the table with or without a rowid, keeping its rows (SQLite only)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_table(
        f"{TABLE}_rebuilt",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "household_id", name=f"pk_{TABLE}"),
        sqlite_with_rowid=with_rowid,
    )
    op.execute(f"INSERT INTO {TABLE}_rebuilt (month, household_id, days) SELECT month, household_id, days FROM {TABLE}")
    op.drop_table(TABLE)
    op.rename_table(f"{TABLE}_rebuilt", TABLE)


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
