"""The index the queue's age percentiles read by: open items ordered by creation time.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_queue_items_state_created_at", "queue_items", ["state", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_queue_items_state_created_at", table_name="queue_items")
