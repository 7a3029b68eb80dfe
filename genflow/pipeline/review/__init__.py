"""The code review stage's work: the project's own tests run in the sandbox in the
environment it declares, lint, static checks, and the quality score of the report."""
