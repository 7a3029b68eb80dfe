# The genflow image: API, worker and migrations all run from it.
FROM python:3.11-slim

# Production unless told otherwise: the API refuses to start without GENFLOW_JWT_SECRET.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 GENFLOW_ENVIRONMENT=production
WORKDIR /app
# bubblewrap: the OS sandbox the review runs generated code in.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY genflow ./genflow
COPY api ./api
COPY activities ./activities
COPY workflows ./workflows
COPY migrations ./migrations
COPY worker ./worker
RUN pip install --no-cache-dir -e .

RUN useradd --create-home genflow
USER genflow

EXPOSE 8000
CMD ["genflow", "api", "--host", "0.0.0.0"]
