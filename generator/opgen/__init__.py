"""opgen: one service descriptor in, the operational kit out."""

__version__ = "0.1.0"
