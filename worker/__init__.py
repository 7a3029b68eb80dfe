"""The genflow worker: `python -m worker` (or `genflow worker`).

- `assembly`: the workflows and activities a worker process serves, by role;
- `schedules`: the maintenance schedules it keeps in place;
- `process`: the process itself (settings, engine, client, signals).
"""
