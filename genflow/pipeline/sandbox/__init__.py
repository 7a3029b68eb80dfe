"""The OS sandbox generated code runs in: bubblewrap with its mounts, limits, system-call
filter and memory cgroup."""
