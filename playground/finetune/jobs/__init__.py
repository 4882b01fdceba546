"""Background jobs: the on-disk store, runners, the manager and the worker entry point."""
