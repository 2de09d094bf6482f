"""Storage: SQLAlchemy tables, repositories, the unit of work and Alembic migrations.

- ``tables``: the ``Mapped[]`` rows (and ``UtcDateTime``), the schema's single source of truth;
- ``repositories``, ``connection_repository``: the storage ports over an ``AsyncSession``;
- ``uow``: ``Database`` (engine, ``uow()``, ``migrate()``, ``dispose()``), ``SqlUnitOfWork``,
  ``database_url``;
- ``migrations/``: Alembic's environment and revisions, shipped with the package;
- ``memory``: the in-memory fake of the same ports, for fast service tests;
- ``convert``: value conversions both share, so they return the same things.
"""
