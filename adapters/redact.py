"""URLs made safe to store, log and show: signed URLs carry credentials in their query and userinfo.

Plain string work (no HTTP stack), so that the state database and the configuration can use it cheaply.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus, urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx

#: query parameters whose values are credentials (compared case-insensitively)
SENSITIVE_PARAMS = frozenset(p.lower() for p in (
    "token", "access_token", "refresh_token", "id_token", "auth", "authorization", "key", "apikey", "api_key",
    "api-key", "signature", "sig", "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token",
    "X-Goog-Signature", "X-Goog-Credential", "AWSAccessKeyId", "Policy", "Key-Pair-Id", "password", "passwd",
    "pwd", "secret", "client_secret", "code", "session", "sessionid",
))
REDACTED = "REDACTED"


def redact_url(url: str | httpx.URL) -> str:
    """``url`` without userinfo and with the values of credential-like query parameters replaced.

    The parameter names stay (``?X-Amz-Signature=REDACTED``), so the result still says what the URL was.
    """
    parts = urlsplit(str(url))
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _redact_pair(pair: str) -> str:
    """One ``name=value`` of a query string, its value replaced when the name is a credential's."""
    name = pair.partition("=")[0]
    if unquote_plus(name).lower() in SENSITIVE_PARAMS:
        return f"{name}={REDACTED}"
    return pair


def loggable_url(url: str | httpx.URL) -> str:
    """``url`` without userinfo, query string and fragment: what retries and progress lines show."""
    parts = urlsplit(str(url))
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


#: a URL inside free text (an error message): a scheme, then anything up to white space or a quote
_URL_IN_TEXT = re.compile(r"""\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>()]+""")


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through `redact_url` (user info and credential values removed).

    For messages that come from elsewhere (a library's error naming a signed URL it could not read, a
    provider's own message): what the harvester stores and shows of them is this.
    """
    return _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text) if "://" in text else text
