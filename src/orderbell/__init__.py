"""orderbell: real-time order alerts for takeout shops."""

__version__ = "0.1.0"
