"""Many submissions: discovery, the report cache, executors (a local pool, a Dask cluster), progress and signals."""
