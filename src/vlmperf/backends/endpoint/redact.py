"""Keys out of everything a server says: the redaction applied where server text enters vlmperf.

A server may echo the request's key: in an error body ("invalid token hf_..."), a header, the
response `id`, an SSE error event, even the model's output. Every text that came from a server is
passed through a `Redactor` before it becomes part of an attempt (`client.send` does it once, for
the final attempt), so records, cell info, the store, exports, logs and the CLI never see a key.

A `Redactor` replaces with `[redacted]`:
- each secret it was given (the key read from the environment), as-is, URL-quoted and
  JSON-escaped; a string that *ends* with the first `PARTIAL_MIN_CHARS` or more characters of a
  secret (an error body cut at 500 characters in the middle of the key) loses that tail too;
- anything shaped like a credential whatever its value: `Bearer <token>`, the value after an
  `Authorization`/`api-key`-like name, and the token formats of the presets' providers (Hugging
  Face `hf_...`, GitHub `ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_`/`github_pat_...`, OpenAI `sk-...`).

Secrets shorter than `MIN_SECRET_CHARS` are not searched for as substrings: a 3-character "key"
(a dummy for a local server) would be cut out of ordinary words everywhere. Such a key is no real
credential; the credential-shaped patterns still apply.

The model's output is redacted too: it came from the server, and an echoed key there would be as
stored as one in an error. A credential-shaped string in an answer (a model quoting `sk-...`) is
therefore replaced as well; that changes what scoring sees only for such answers.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 8
"""Shorter secrets are not redacted as substrings (too many false positives)."""
PARTIAL_MIN_CHARS = 4
"""A string ending with at least this many leading characters of a secret loses that tail."""
MAX_DEPTH = 32
"""`value` redacts nested dicts and lists down to this depth; anything deeper becomes `[redacted]`."""

_TOKEN_CHARS = r"[A-Za-z0-9._~+/=-]"
_TOKEN = rf"(?={_TOKEN_CHARS}*[0-9]){_TOKEN_CHARS}{{8,}}"
"""A bearer token: 8 or more token characters, a digit among them (so "bearer instruments" stays)."""
_PATTERNS = (
    # Authorization: Bearer xxx / "authorization": "Basic xxx" / api_key=xxx / x-api-key: xxx
    (
        ("authorization", "api", "token"),
        re.compile(
            r"(?i)(\b(?:proxy-)?authorization|\bx-api-key|\bapi[_-]?key|\baccess[_-]?token)"
            r"([\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token)\s+)?[^\s\"',;}&]{8,}"
        ),
    ),
    (("bearer",), re.compile(rf"(?i)\b(bearer)(\s+){_TOKEN}")),
    (("hf_",), re.compile(r"\bhf_[A-Za-z0-9]{16,}")),
    (("gh", "github_pat_"), re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,})")),
    (("sk-",), re.compile(r"\bsk-[A-Za-z0-9_-]{16,}")),
)
"""(markers, pattern): a pattern is only run on a text whose lower case holds one of its markers
(scanning every text with every pattern cost ~25 µs per 1,000 characters each)."""


def _keep_name(match: re.Match[str]) -> str:
    """The credential's name and separator stay (`Authorization: [redacted]`); the value goes."""
    groups = match.groups()
    return f"{groups[0]}{groups[1]}{REDACTED}" if len(groups) >= 2 and groups[0] is not None else REDACTED


class Redactor:
    """Redacts `secrets` (and anything shaped like a credential) from server text."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self.secrets = tuple(s for s in dict.fromkeys(secrets) if s and len(s) >= MIN_SECRET_CHARS)
        forms: set[str] = set()
        for secret in self.secrets:
            forms.update(
                {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret), json.dumps(secret)[1:-1]}
            )
        ordered = sorted(forms, key=len, reverse=True)  # the longest form first, so none is cut in half
        self._secret = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __repr__(self) -> str:  # never the secrets themselves
        return f"Redactor({len(self.secrets)} secret(s))"

    def text(self, s: str) -> str:
        """`s` with every secret and credential-shaped token replaced by `[redacted]`."""
        if not s:
            return s
        if self._secret is not None:
            s = self._secret.sub(REDACTED, s)
            s = self._cut_tail(s)
        lowered = s.lower()
        for markers, pattern in _PATTERNS:
            if any(marker in lowered for marker in markers):
                s = pattern.sub(_keep_name, s)
        return s

    def _cut_tail(self, s: str) -> str:
        """A secret cut off by a length limit leaves its start at the end of the string: drop it."""
        for secret in self.secrets:
            for length in range(min(len(secret) - 1, len(s)), PARTIAL_MIN_CHARS - 1, -1):
                if s.endswith(secret[:length]):
                    return s[:-length] + REDACTED
        return s

    def value(self, obj: Any, _depth: int = 0) -> Any:
        """`obj` with `text` applied to every string in it (dict keys too), through dicts, lists and tuples."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, (dict, list, tuple)) and _depth >= MAX_DEPTH:
            return REDACTED
        if isinstance(obj, dict):
            return {self.value(k, _depth + 1): self.value(v, _depth + 1) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(self.value(v, _depth + 1) for v in obj)
        return obj
