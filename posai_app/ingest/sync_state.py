"""Each resource's sync progress (sync_states): the row a sync job resumes from, and its summary."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from posai_app.extensions import db
from posai_app.models import SyncState, SyncStatus, aware
from posai_app.tenancy import select_for_shop

log = logging.getLogger(__name__)


def get_sync_state(shop_id: int, resource: str) -> SyncState:
    """The shop's sync_states row for "products" or "orders", created on first use."""
    state = db.session.scalar(select_for_shop(SyncState, shop_id).where(SyncState.resource == resource))
    if state is None:
        state = SyncState(shop_id=shop_id, resource=resource, status=SyncStatus.IDLE, processed_count=0)
        db.session.add(state)
        db.session.flush()
    return state


def sync_summary(shop_id: int) -> dict[str, dict[str, Any]]:
    """Progress of each resource's sync, for the admin page and the CLI."""
    states = db.session.scalars(select_for_shop(SyncState, shop_id)).all()
    return {
        s.resource: {
            "status": s.status,
            "phase": s.phase,
            "processed": s.processed_count,
            "total": s.total_count,
            "oldest_record_at": s.oldest_record_at.isoformat() if s.oldest_record_at else None,
            "all_history": s.all_history,
            "last_synced_at": s.last_synced_at.isoformat() if s.last_synced_at else None,
            "last_error": s.last_error,
        }
        for s in states
    }


ACTIVE_SYNC_STATUSES = {SyncStatus.RUNNING}


# A running sync writes `updated_at` at every commit and, from a heartbeat thread, every
# HEARTBEAT_SECONDS (ingest.sync): a RUNNING row silent for DEAD_AFTER lost its worker
# (SIGKILL, OOM, a lost machine). It is shown as interrupted and queued again
# (`ingest.sync.resume_interrupted_sync`), by the next status request or a worker's maintenance.
HEARTBEAT_SECONDS = 10.0
DEAD_AFTER = timedelta(seconds=60)


def sync_states(shop_id: int) -> dict[str, dict[str, Any]]:
    """The shop's sync progress per resource ("products", "orders")."""
    rows = db.session.scalars(select_for_shop(SyncState, shop_id).order_by(SyncState.resource)).all()
    now = datetime.now(UTC)
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        updated = aware(row.updated_at) or aware(row.started_at)
        running = row.status in ACTIVE_SYNC_STATUSES
        active = running and (updated is None or now - updated < DEAD_AFTER)
        total = row.total_count
        percent = None
        if total:
            percent = max(0, min(100, math.floor(100 * (row.processed_count or 0) / total)))
        out[row.resource] = {
            "resource": row.resource,
            "status": row.status,
            "active": active,
            "phase": row.phase,
            "processed": row.processed_count or 0,
            "total": total,
            "percent": percent,
            "oldest_record_at": aware(row.oldest_record_at),
            "all_history": row.all_history,
            "last_error": row.last_error,
            "started_at": aware(row.started_at),
            "finished_at": aware(row.finished_at),
            "last_synced_at": aware(row.last_synced_at),
            "updated_at": updated,
            "failed": row.status == SyncStatus.FAILED,
            "interrupted": running and not active,
        }
    return out
