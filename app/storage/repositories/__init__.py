"""Repositories: every SQL statement of the app, one module per aggregate.

Each repository takes a :class:`~app.storage.db.Database` and returns frozen dataclasses or
plain values, never ORM rows or sessions:

* :mod:`~app.storage.repositories.orders`: orders and fills (idempotent upserts, listings);
* :mod:`~app.storage.repositories.kill_switch`: the global switch and its audit trail;
* :mod:`~app.storage.repositories.guard`: the order guard's snapshot (implements
  :class:`~app.risk.ports.GuardStore`);
* :mod:`~app.storage.repositories.sweep_jobs`: ``sweep_registry`` and the job lifecycle;
* :mod:`~app.storage.repositories.backtest_runs`: recorded backtest runs.

Import the module you need; this package imports none of them, so loading one repository
does not load the others.
"""
