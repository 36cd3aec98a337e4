"""Connectors: one per external system, all speaking the `Connector` protocol in base.py."""
