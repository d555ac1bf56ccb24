"""Errors the core raises for bad input; the API turns them into 4xx problem+json naming the field."""

from __future__ import annotations


class InputError(ValueError):
    """Input that breaks a rule: ``field`` names what to fix; ``status`` is 422, or 409 for a conflict."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status
