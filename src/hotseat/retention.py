"""``HOTSEAT_RETENTION_DAYS``: sessions and CVs are deleted once they are that old.

Sessions untouched (``updated_at``) for the period go with their turns and
assessments, through the same path as ``DELETE /api/sessions/{id}`` (a running
turn is stopped first); CVs uploaded (``created_at``) that long ago go as
``DELETE /api/cvs/{id}`` does. The purge runs at start and then every hour,
in batches, on every replica (deleting twice is harmless).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotseat.interview.records import Records
from hotseat.interview.service import InterviewService
from hotseat.store.models import CvRow, SessionRow, utcnow

logger = logging.getLogger(__name__)

PURGE_INTERVAL_SECONDS = 3600.0
# Rows deleted per kind and run: bounds one run's work; a backlog goes over the following runs.
_BATCH = 1000


async def purge_expired(
    engine: AsyncEngine, records: Records, interview: InterviewService, days: int
) -> tuple[int, int]:
    """Delete the sessions and CVs older than ``days``; returns how many of each."""
    cutoff = utcnow() - timedelta(days=days)
    async with engine.connect() as db:
        sessions = (
            await db.scalars(select(SessionRow.id).where(SessionRow.updated_at < cutoff).limit(_BATCH))
        ).all()
        cvs = (await db.scalars(select(CvRow.id).where(CvRow.created_at < cutoff).limit(_BATCH))).all()
    for session_id in sessions:
        await interview.delete(session_id)
    for cv_id in cvs:
        await records.delete_cv(cv_id)  # as DELETE /api/cvs/{id} does
    if sessions or cvs:
        logger.info(
            "retention: deleted %d session(s) and %d CV(s) older than %d days", len(sessions), len(cvs), days
        )
    return len(sessions), len(cvs)
