"""Projects: the endpoints, their use cases and their models."""
