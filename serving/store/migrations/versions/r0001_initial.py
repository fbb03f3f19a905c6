"""Initial store: notes, verdicts, verdict_rules, queue_items, decisions.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from serving.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("note_id", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("note", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notes"),
        sa.UniqueConstraint("note_id", "content_hash", name="uq_notes_note_id_content_hash"),
        sa.UniqueConstraint("note_id", "version", name="uq_notes_note_id_version"),
    )
    op.create_table(
        "verdicts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("note_pk", Id, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("model_scores", sa.JSON, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("policy_version", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("times_seen", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_verdicts"),
        sa.ForeignKeyConstraint(["note_pk"], ["notes.id"], name="fk_verdicts_note_pk_notes"),
        sa.UniqueConstraint("note_pk", "model_version", "policy_version",
                            name="uq_verdicts_note_pk_model_version_policy_version"),
    )
    op.create_table(
        "verdict_rules",
        sa.Column("verdict_id", Id, nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("verdict_id", "rule", name="pk_verdict_rules"),
        sa.ForeignKeyConstraint(["verdict_id"], ["verdicts.id"], ondelete="CASCADE",
                                name="fk_verdict_rules_verdict_id_verdicts"),
    )
    op.create_index("ix_verdict_rules_rule", "verdict_rules", ["rule"])
    op.create_table(
        "queue_items",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("note_pk", Id, nullable=False),
        sa.Column("note_id", sa.String(200), nullable=False),
        sa.Column("verdict_id", Id, nullable=False),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reviews_required", sa.Integer, nullable=False),
        sa.Column("reviews_done", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("decided_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_queue_items"),
        sa.ForeignKeyConstraint(["note_pk"], ["notes.id"], name="fk_queue_items_note_pk_notes"),
        sa.ForeignKeyConstraint(["verdict_id"], ["verdicts.id"],
                                name="fk_queue_items_verdict_id_verdicts"),
        sa.UniqueConstraint("note_pk", name="uq_queue_items_note_pk"),
    )
    op.create_index("ix_queue_items_note_id", "queue_items", ["note_id"])
    op.create_table(
        "decisions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("item_id", Id),
        sa.Column("note_pk", Id, nullable=False),
        sa.Column("verdict_id", Id),
        sa.Column("label", sa.String(32), nullable=False),
        sa.Column("reviewer", sa.String(100), nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("predicted_label", sa.String(32)),
        sa.Column("predicted_decision", sa.String(16)),
        sa.Column("decided_at", UTCDateTime, nullable=False),
        sa.Column("undone", sa.Boolean, nullable=False),
        sa.Column("undone_at", UTCDateTime),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.ForeignKeyConstraint(["item_id"], ["queue_items.id"],
                                name="fk_decisions_item_id_queue_items"),
        sa.ForeignKeyConstraint(["note_pk"], ["notes.id"], name="fk_decisions_note_pk_notes"),
        sa.ForeignKeyConstraint(["verdict_id"], ["verdicts.id"],
                                name="fk_decisions_verdict_id_verdicts"),
    )
    op.create_index("ix_decisions_item_id", "decisions", ["item_id"])
    op.create_index("ix_decisions_note_pk", "decisions", ["note_pk"])
    op.create_index("ix_decisions_reviewer_id", "decisions", ["reviewer", "id"])


def downgrade() -> None:
    for table in ("decisions", "queue_items", "verdict_rules", "verdicts", "notes"):
        op.drop_table(table)
