"""Base revision: empty. Every domain's branch starts here (down_revision = "0001_base").

Revision ID: 0001_base
Revises:
"""

from collections.abc import Sequence

revision: str = "0001_base"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
