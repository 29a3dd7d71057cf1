"""Benchmarks: a bulk seeder and load runs against the portal (see bench/README.md)."""
