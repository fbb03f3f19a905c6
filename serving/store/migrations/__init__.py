"""Alembic migrations of the store, shipped in the package and run by ``Store.open`` (no
``alembic.ini`` on disk: :func:`serving.store.migrate.upgrade` builds the configuration)."""
