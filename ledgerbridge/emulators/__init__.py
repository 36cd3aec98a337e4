"""Emulators of the external systems: real HTTP servers on loopback following the public contracts."""
