"""WebError: a failure with the HTTP status and the message a person sees (never a stack trace)."""
from __future__ import annotations


class WebError(Exception):
    def __init__(self, status: int, message: str, code: str = "error", extra: dict | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.extra, self.headers = extra or {}, headers or {}

    def payload(self) -> dict:
        return dict(self.extra, error=self.message, code=self.code)
