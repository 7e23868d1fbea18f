"""What is left of the use-case package while it is dissolved: the process container, the
order/fill queries and the sweep job registry (each moving to the composition root or
``app/storage/repositories``). Scheduler job bodies live in :mod:`app.workers.daily_jobs`,
market-event publishing in :mod:`app.bus.market_events`."""
