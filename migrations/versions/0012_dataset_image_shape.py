"""datasets.image_shape: the (C, H, W) of an uploaded .npz of images, null for rows

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-23 09:00:00.000000

Downgrade drops the column: image uploads stay usable as flat rows by an mlp.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_shape", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("image_shape")
