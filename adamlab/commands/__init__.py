"""Sub-commands of adamlab; see adamlab/cli.py."""
