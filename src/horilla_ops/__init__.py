"""Health, metrics and operator commands for a highly available Horilla HR deployment."""

__version__ = "0.1.0"
