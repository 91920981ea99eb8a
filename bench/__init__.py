"""Performance benchmarks: ``make bench`` (``python -m bench.run``) prints the figures and writes bench/results.json."""
