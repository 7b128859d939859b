"""The sync engine: list, plan, fetch, write, reconcile."""
