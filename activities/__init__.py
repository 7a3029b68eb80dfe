"""Everything that touches the world: stage work, read-model writes."""
