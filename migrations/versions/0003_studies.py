"""studies: run stages, data variants, base arms and outputs; shard stages; job study state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("study_state", sa.JSON(), nullable=True))
    with op.batch_alter_table("shards") as batch:
        batch.add_column(sa.Column("stage", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("stage", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("variant", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("base_arm", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("outputs", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("outputs")
        batch.drop_column("base_arm")
        batch.drop_column("variant")
        batch.drop_column("stage")
    with op.batch_alter_table("shards") as batch:
        batch.drop_column("stage")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("study_state")
