"""The provider's staff: account status, BYOL enrollment, user authorization and proof review."""
from .views import bp

__all__ = ["bp"]
