"""Clips and redacted copies of originals, each a derivative with a provenance spec a court can check."""
