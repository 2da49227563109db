"""placer benchmark harness: suites, isolated runs, reports (python -m bench)."""
