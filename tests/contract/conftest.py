"""The contract suite's systems: every registered one, plus the test-only minimal system, which
registers itself here (as a third-party package would through its entry point)."""

from contract.minimal_system import register_minimal_system

register_minimal_system()
