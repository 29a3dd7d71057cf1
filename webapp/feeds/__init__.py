"""Feeds read by other programs with a secret URL and no login: the customer's calendar."""
from .views import bp

__all__ = ["bp"]
