"""Logging in and out."""
from .views import bp

__all__ = ["bp"]
