"""Prefect flows, tasks and all I/O of pekppp: landing zone, ledger, warehouse, releases, command line."""
