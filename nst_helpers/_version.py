"""The package version, in one place (the recipe and `nst --version` read it)."""

__version__ = "0.2.0"
