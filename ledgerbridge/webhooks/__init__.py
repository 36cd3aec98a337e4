"""Near-real-time triggers: the webhook receiver, signature checks and hook registration."""
