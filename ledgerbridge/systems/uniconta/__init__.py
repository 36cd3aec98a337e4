"""Uniconta (ERP): its contract, emulator, mapping, connector, webhooks and change probe."""
