"""What every slice of the API shares in its models: field types (`fields`) and the
problem document of every error (`problem`). Each resource keeps its own models beside
its endpoints (api/generations/, api/projects/, api/webhooks/)."""

from .fields import Moment, Tag, Text, TimeoutSeconds, clean_text, example, json_at_most
from .problem import Problem

__all__ = [
    "Moment",
    "Problem",
    "Tag",
    "Text",
    "TimeoutSeconds",
    "clean_text",
    "example",
    "json_at_most",
]
