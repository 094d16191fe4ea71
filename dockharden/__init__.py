"""dockharden: harden a Docker host idempotently and safely (plan, apply, verify, roll back)."""

__version__ = "0.1.0"
