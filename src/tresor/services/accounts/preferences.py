"""A user's preferences for the dashboard: the quote currency and the time zone."""

from __future__ import annotations

from tresor.domain.accounts import Preferences, checked_preferences
from tresor.domain.errors import NotFound
from tresor.services.ports import UnitOfWorkFactory


class UserPreferences:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def get(self, user_id: str) -> Preferences:
        """The stored preferences, or the defaults (USD, UTC)."""
        async with self._uow(read_only=True) as uow:
            stored = await uow.preferences.get(user_id)
        return stored or Preferences()

    async def set(self, user_id: str, *, quote: str, timezone: str) -> Preferences:
        """Raises: ValidationFailed (see ``checked_preferences``), NotFound."""
        preferences = checked_preferences(quote=quote, timezone=timezone)
        async with self._uow() as uow:
            if await uow.users.get(user_id) is None:
                raise NotFound("There is no such user.")
            await uow.preferences.set(user_id, preferences)
            await uow.commit()
        return preferences
