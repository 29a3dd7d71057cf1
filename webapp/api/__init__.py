"""The read-only JSON API for the provider's invoicing system."""
from .views import bp

__all__ = ["bp"]
