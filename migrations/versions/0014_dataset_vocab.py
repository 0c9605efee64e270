"""datasets.vocab: the vocabulary of an uploaded .npz of integer sequences, null otherwise

Revision ID: 0014
Revises: 0013
Create Date: 2027-01-06 09:00:00.000000

Uploads made before the upgrade read as rows (no vocabulary). Downgrade drops the column.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vocab", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("vocab")
