"""orcli: OpenRouter-style routing over your own provider accounts."""

__version__ = "0.1.0"
