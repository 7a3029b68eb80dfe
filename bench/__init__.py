"""Benchmarks that print figures (never timed assertions in tests); bench/RESULTS.md
holds the latest. Entry points, run from the project root:

- `python bench/api.py`: API latency on 1,000,000 generations (seed.py, dataset.py,
  servers.py, api_operations.py, measure.py);
- `python -m bench.pipeline`, `bench.review_cpu`, `bench.sandbox_cost`: one generation,
  one review, one sandbox set-up;
- `python -m bench.burst` and `bench.chaos`: a real `genflow up` (stack.py, procs.py)
  under load (workload.py, genflow_http.py) or faults (chaos_faults.py, tcp_proxy.py),
  checked against the read model and Temporal (checker.py).

Helpers the tests have too (free ports, `eventually`, the dev server, the prompts) come
from tests/support.py, never from the pytest fixtures.
"""
