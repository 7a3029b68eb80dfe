"""genflow: a durable backend for AI code generation."""
