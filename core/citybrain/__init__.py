"""City Brain (城市大脑): the signed retrying client, dataset sync, the outbox of pushes, and a simulator.

- :mod:`core.citybrain.signing`: the HMAC-SHA256 request signature (both sides).
- :mod:`core.citybrain.client`: one shared ``httpx.AsyncClient``, retries, cursor pagination.
- :mod:`core.citybrain.sync`: pull a dataset into a plugin's model (watermark, batches, the run).
- :mod:`core.citybrain.checks`: check a page's records against the model; what to quarantine and why.
- :mod:`core.citybrain.upsert`: the upsert on the natural key (SQLite and PostgreSQL) and the quarantine.
- :mod:`core.citybrain.outbox`: write pushes in the caller's transaction; deliver them later.
- :mod:`core.citybrain.jobs`: the scheduled jobs and the per-process service that runs them.
- :mod:`core.citybrain.simulator`: a Litestar app implementing the contract, with faults.

The contract is documented in ``docs/citybrain.md``.
"""
