"""adamlab's own Adam, AdaMax and AdamW (torch only)."""
