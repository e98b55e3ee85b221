"""Errors of providers and their outputs.

    catalogs.errors.HarvestError
     +-- ProviderError               something a provider answered or delivered
          +-- AuthError              missing, wrong or expired credentials (401/403 after a re-login)
          +-- RateLimitedError       429 that outlasted the retries; carries ``retry_after`` (seconds)
          +-- ProviderUnavailableError  5xx or no connection, after the retries
          +-- NotFoundError          a job, task or file that the provider does not know (404)
          +-- ExpiredError           a job whose results have expired before they were downloaded
          +-- RequestRejectedError   the provider refused a request as invalid (400/422), with its message
          +-- BadProductError        a delivered file that is not what it should be (corrupt zip, bad name)
          |    +-- UnsafePathError   a file or archive entry name that would escape its folder
          +-- DownloadError          a transfer that could not be completed
               +-- ChecksumMismatchError  a downloaded file whose size or checksum is not the announced one

Each adapter turns provider responses into these in one place (`error_for_response`), chained with
``raise ... from``. Messages name the job and file they concern and never contain credentials.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from catalogs.errors import HarvestError

if TYPE_CHECKING:
    import httpx


class ProviderError(HarvestError):
    """A problem with what a provider answered or delivered."""


class AuthError(ProviderError):
    """Missing, wrong or expired credentials."""


class RateLimitedError(ProviderError):
    """The provider kept answering 429."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailableError(ProviderError):
    """The provider answered 5xx or could not be reached, after the retries."""


class NotFoundError(ProviderError):
    """A job, task or file the provider does not know (any more)."""


class ExpiredError(ProviderError):
    """A job whose results expired before they were downloaded."""


class RequestRejectedError(ProviderError):
    """The provider refused a request as invalid; the message is the provider's."""


class BadProductError(ProviderError):
    """A delivered file that is not what it should be."""


class UnsafePathError(BadProductError):
    """A file or archive entry name that would land outside its folder."""


class DownloadError(ProviderError):
    """A transfer that could not be completed."""


class ChecksumMismatchError(DownloadError):
    """A downloaded file whose size or checksum differs from the announced one."""


def error_for_response(response: httpx.Response, what: str, detail: str | None = None) -> ProviderError:
    """The error for a non-success ``response``, naming ``what`` was asked (e.g. "HyP3 job 1234").

    ``detail`` is the provider's own message when the adapter could extract one. The URL is not put in
    the message (it may carry signed query parameters).
    """
    status = response.status_code
    text = f"{what}: HTTP {status}" + (f": {detail}" if detail else "")
    if status in (401, 403):
        return AuthError(text)
    if status == 404:
        return NotFoundError(text)
    if status == 410:
        return ExpiredError(text)
    if status == 429:
        # what reaches the user is the 429 that outlasted the client's retries (each waited as Retry-After said)
        return RateLimitedError(text + " (rate limited: still refused after the retries; run again later: "
                                "a re-run resumes where this one stopped)", retry_after_seconds(response))
    if status >= 500:
        return ProviderUnavailableError(text)
    return RequestRejectedError(text)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), or None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    from datetime import datetime, timezone

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
