"""cases: store every case number (案号) in its canonical spelling, refusing variants that would merge two cases

Revision ID: 0008_case_number_canonical
Revises: 0001
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from vault.cases.numbers import canonical_case_number
from vault.errors import Conflict

revision = "0008_case_number_canonical"
down_revision = "0001"
branch_labels = ("cases",)
depends_on = None

_cases = sa.table("cases", sa.column("id", sa.Uuid()), sa.column("case_number", sa.String(128)))


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_cases.c.id, _cases.c.case_number).order_by(_cases.c.case_number)).all()
    spellings: dict[str, list[tuple[object, str]]] = defaultdict(list)
    for case_id, number in rows:
        spellings[canonical_case_number(number)].append((case_id, number))
    clashes = {canonical: found for canonical, found in spellings.items() if len(found) > 1}
    if clashes:
        # Two catalog cases are one case number under two spellings: which one the records belong to is a
        # human decision, so the upgrade stops here and changes nothing.
        named = "; ".join(" and ".join(f"'{number}' (case {case_id})" for case_id, number in found)
                          + f" are both {canonical}" for canonical, found in clashes.items())
        raise Conflict(f"case numbers (案号) that differ only in brackets, width or spaces: {named}. Renumber or "
                       "merge them by hand, then migrate again", details={"clashes": sorted(clashes)})
    for canonical, ((case_id, number),) in spellings.items():
        if number != canonical:
            bind.execute(sa.update(_cases).where(_cases.c.id == case_id).values(case_number=canonical))


def downgrade() -> None:
    # The variants were never meaningful; there is nothing to restore.
    pass
