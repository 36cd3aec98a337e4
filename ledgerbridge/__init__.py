"""ledgerbridge: the sync engine, free of Dagster."""

__version__ = "0.1.0"
