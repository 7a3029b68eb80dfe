"""Request and response models of the HTTP API, by kind: `fields` (shared field
types), `requests` (bodies clients send), `generation` (a generation as clients see
it) and `responses` (problems, projects, statistics, the webhook secret)."""

from .fields import Moment, Tag, Text, TimeoutSeconds, clean_text
from .generation import (
    ArtifactOut,
    ErrorOut,
    GenerationOut,
    GenerationPage,
    GenerationUrls,
    MetricsOut,
    QueueOut,
    StageOut,
)
from .requests import (
    CancelRequest,
    DecisionRequest,
    GenerationCreate,
    GenerationUpdate,
    IterationCreate,
    ProjectCreate,
    RetryRequest,
)
from .responses import (
    BacklogOut,
    DayCountsOut,
    Problem,
    ProjectOut,
    ProjectPage,
    QueueLatencyOut,
    StageStatisticsOut,
    StatisticsOut,
    WebhookSecretOut,
)

__all__ = [
    "ArtifactOut",
    "BacklogOut",
    "CancelRequest",
    "DayCountsOut",
    "DecisionRequest",
    "ErrorOut",
    "GenerationCreate",
    "GenerationOut",
    "GenerationPage",
    "GenerationUpdate",
    "GenerationUrls",
    "IterationCreate",
    "MetricsOut",
    "Moment",
    "Problem",
    "ProjectCreate",
    "ProjectOut",
    "ProjectPage",
    "QueueLatencyOut",
    "QueueOut",
    "RetryRequest",
    "StageOut",
    "StageStatisticsOut",
    "StatisticsOut",
    "Tag",
    "Text",
    "TimeoutSeconds",
    "WebhookSecretOut",
    "clean_text",
]
