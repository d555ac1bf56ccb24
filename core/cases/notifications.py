"""Notification channels: after a notification is in the inbox, plugins deliver it (``deliver_notification``)."""

from __future__ import annotations

from sqlalchemy import select

from core.cases.models import Notification
from core.db import Database
from core.logs import get_logger
from core.plugins import PluginManager
from core.retries import record_attempt

log = get_logger(__name__)

MAX_ATTEMPTS = 10


class NotificationChannels:
    """Hands new notifications to every plugin's ``deliver_notification``; retried while one raises."""

    def __init__(self, database: Database, plugins: PluginManager) -> None:
        """Deliver with the hooks of ``plugins``."""
        self.database = database
        self.plugins = plugins

    async def deliver(self, limit: int = 200) -> dict[str, int]:
        """One round: the oldest notifications not handed to every channel yet."""
        async with self.database.session() as session:
            pending = list(
                await session.scalars(
                    select(Notification)
                    .where(Notification.channels_done_at.is_(None))
                    .order_by(Notification.id)
                    .limit(limit)
                )
            )
        delivered = failed = 0
        for notification in pending:
            ok = await self.plugins.acall_checked(
                "deliver_notification", notification=notification, database=self.database
            )
            await record_attempt(
                self.database, Notification, notification.id, ok, "channel_attempts", "channels_done_at", MAX_ATTEMPTS
            )
            delivered, failed = delivered + ok, failed + (not ok)
        return {"delivered": delivered, "failed": failed}
