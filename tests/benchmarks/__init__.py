"""Benchmarks at national scale (`make bench`): pekppp against bare Polars and plain pandas; not tests."""
