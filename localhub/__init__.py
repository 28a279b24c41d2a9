"""An embedded Hugging Face Hub-compatible server storing repositories as bare git repositories."""

from localhub.auth import Token
from localhub.limits import Limits
from localhub.server import LocalHub

__all__ = ["Limits", "LocalHub", "Token"]
