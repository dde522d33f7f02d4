"""Figures a simulation produced: the event-id prefix the demo's replay (posai_app.demo.replay)
gives every event it sends, and how many shown suggestions of a period carry it.

The POS extension names its events with UUIDs (hex digits and dashes), so an id starting with
`posai-demo-replay-` can only come from the replay: a real shop never shows the "simulated" label
unless its own POS sent such ids.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import ImpactShown
from posai_app.tenancy import of_shop

EVENT_PREFIX = "posai-demo-replay-"


def simulated_shown(shop_id: int, since: datetime) -> int:
    """Shown suggestions since `since` whose events the demo replay sent."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ImpactShown)
            .where(
                of_shop(ImpactShown, shop_id),
                ImpactShown.shown_at >= since,
                ImpactShown.event_id.startswith(EVENT_PREFIX, autoescape=True),
            )
        )
        or 0
    )
