"""Signing in to the web dashboard: ``AccountService`` (see ``service``)."""

from tresor.services.accounts.service import AccountService

__all__ = ["AccountService"]
