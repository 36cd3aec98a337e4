"""The sync road, free of Dagster: pull -> reconcile -> plan + check -> push."""
