"""Migration engine."""
