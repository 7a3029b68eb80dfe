"""The HTTP facade: validate, authorize, start or cancel a workflow, read the read model."""
