"""jobs: the owner's labels (name, tags, notes)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-20 03:00:00.000000

Jobs stored before get no name, no tags and no notes. Downgrade drops the three columns
with plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+ has it): a batch copy would drop and
recreate ``jobs``, and with SQLite's foreign keys on that drop deletes every shard, run and
metric of every job (ON DELETE CASCADE).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("name", sa.String(length=200), nullable=True))
    op.add_column("jobs", sa.Column("tags", sa.JSON(), server_default="[]", nullable=False))
    op.add_column("jobs", sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "notes")
    op.drop_column("jobs", "tags")
    op.drop_column("jobs", "name")
