"""Command line: adamlab."""
