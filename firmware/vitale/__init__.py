"""Vitale Reader firmware: reads and verifies health cards presented by phones."""

__version__ = "0.1.0"
