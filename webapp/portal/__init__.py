"""The Onboarding Portal for customers' authorized users: the Client Licenses tab and Help."""
from .views import bp

__all__ = ["bp"]
