"""Speed benchmarks for metasim (run: ``python -m benchmarks``)."""
