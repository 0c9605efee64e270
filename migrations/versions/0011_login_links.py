"""login_links: one-time sign-in tokens; api_keys.parent_id: a browser key's local key

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-22 09:00:00.000000

Downgrade drops the links (a printed link stops working) and the parent column: keys that
browsers got by link keep working until revoked one by one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch: SQLite adds a foreign key only by copying the table (a few rows: the keys).
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_api_keys_parent_id_api_keys"), "api_keys",
                                    ["parent_id"], ["id"])
    op.create_table(
        "login_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_login_links_key_id_api_keys"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_links_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("login_links")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_parent_id_api_keys"), type_="foreignkey")
        batch_op.drop_column("parent_id")
