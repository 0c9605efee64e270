"""workers.models: the models each live worker can train (built-ins and installed plugins)

Revision ID: 0013
Revises: 0012
Create Date: 2027-01-05 09:00:00.000000

Rows of workers running before the upgrade read as offering no plugin models until their
next heartbeat rewrites them. Downgrade drops the column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("models", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_column("models")
