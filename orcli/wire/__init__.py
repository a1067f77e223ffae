"""Wire protocols spoken to providers."""
