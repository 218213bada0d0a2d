"""team admin: queue calls, service level, admin devices, session user agent, wrap-up start

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uniqueid", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("caller_id", sa.String(length=64), nullable=False),
        sa.Column("caller_name", sa.String(length=128), nullable=False),
        sa.Column("joined_at", sa.Float(), nullable=False),
        sa.Column("left_at", sa.Float(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("wait_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_queue_calls_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_calls")),
        sa.UniqueConstraint("uniqueid", name=op.f("uq_queue_calls_uniqueid")),
    )
    with op.batch_alter_table("queue_calls", schema=None) as batch_op:
        batch_op.create_index("ix_queue_calls_group_left", ["group_id", "left_at"], unique=False)
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_level_s", sa.Integer(), nullable=False,
                                      server_default="20"))
        batch_op.add_column(sa.Column("stats_version", sa.Integer(), nullable=False,
                                      server_default="0"))
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("wrapup_at", sa.Float(), nullable=True))
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_agent", sa.String(length=256), nullable=False,
                                      server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("user_agent")
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("wrapup_at")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("device_id")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("stats_version")
        batch_op.drop_column("service_level_s")
    with op.batch_alter_table("queue_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_calls_group_left")
    op.drop_table("queue_calls")
