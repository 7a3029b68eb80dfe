"""Webhooks: the endpoints of the signing secret, their use cases and their models."""
