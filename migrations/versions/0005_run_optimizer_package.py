"""runs: the package (and its version) whose optimizer trained each run

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("optimizer_package", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("optimizer_version", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("optimizer_version")
        batch_op.drop_column("optimizer_package")
