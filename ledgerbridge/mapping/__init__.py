"""Per-system mappings between the entity model and each system's own JSON (one module a system)."""
