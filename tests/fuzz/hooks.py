"""Schemathesis hooks for the spec fuzzer of tests/tests/fuzz.rs.

Loaded with SCHEMATHESIS_HOOKS=hooks (PYTHONPATH=tests/fuzz). They only make
the fuzzer's requests behave like a correct client where the API has a rule
that JSON Schema cannot express; every response is still checked in full.
Each adjustment keeps a request schema-valid (it never turns a negative case
into a positive one, nor the reverse):

1. Idempotency-Key: API.md makes a key single-use per request (the same key
   with a different request is 422 IDEMPOTENCY_KEY_REUSED, by design). The
   generator reuses small values ("0", "A") across unrelated requests, so
   each well-formed key gets a unique suffix. Malformed keys (the negative
   cases: empty, too long, spaces, non-ASCII) are left alone, so their 400
   is still checked.
2. cursor: opaque, only valid when the list issued it (anything else is a
   400, by design). A positive request keeps a cursor only if it is one the
   server could have issued (e.g. followed from the NextPage link); a random
   string matching the cursor pattern is replaced by the list's first-page
   position, a cursor the server accepts.
3. PUT /tenants/{name}/datasets: each dataset may appear once (a duplicate
   name is a 400 naming it). `uniqueItems` only rules out identical items, so
   positive bodies keep the first entry of each name.

And one works around a schemathesis 4.32.5 bug:

4. If-Match: its coverage phase only draws header values from [A-Za-z0-9],
   which no entity tag matches (they are quoted), and then sends a negative
   seed ("0") labelled positive ("All required properties and optional
   'If-Match'"). A positive header that does not match the declared pattern
   is therefore replaced by "*", a valid If-Match.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
import uuid

import schemathesis

# The patterns of cp_http::params (IDEMPOTENCY_KEY_PATTERN, IF_MATCH_PATTERN).
_KEY = re.compile(r"^[!-~]{1,255}\Z")
_IF_MATCH = re.compile(r'^[ \t]*(\*|"[^,]*"([ \t]*,[ \t]*"[^,]*")*)[ \t]*\Z')
_COUNTER = itertools.count()
# Keys must not collide with those of an earlier run on the same database either.
_RUN = uuid.uuid4().hex[:8]
# A cursor the tenant list accepts: "after (created 0, name '')", i.e. the start.
_FIRST_PAGE = "v1." + base64.urlsafe_b64encode(b'{"s":"tenants","k":[0,""]}').decode().rstrip("=")


def _unique_key(key: str) -> str:
    suffix = f".{_RUN}.{next(_COUNTER):x}"
    return key[: 255 - len(suffix)] + suffix


def _is_issued_cursor(raw: str) -> bool:
    """What cp_http::pagination::Cursor::decode accepts for the tenant list."""
    if not raw.startswith("v1."):
        return False
    payload = raw[3:]
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return False
    if not isinstance(data, dict) or data.get("s") != "tenants":
        return False
    key = data.get("k")
    return (
        isinstance(key, list)
        and len(key) >= 2
        and isinstance(key[0], int)
        and not isinstance(key[0], bool)
        and isinstance(key[1], str)
    )


def _positive(case, location: str) -> bool:
    meta = case.meta
    return meta is None or not meta.is_negative_at(location)


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            value = headers[name]
            if isinstance(value, str) and _KEY.match(value):
                headers[name] = _unique_key(value)
        elif name.lower() == "if-match" and _positive(case, "header"):
            value = headers[name]
            if not (isinstance(value, str) and _IF_MATCH.match(value)):
                headers[name] = "*"

    query = case.query or {}
    cursor = query.get("cursor")
    if isinstance(cursor, str) and _positive(case, "query") and not _is_issued_cursor(cursor):
        query["cursor"] = _FIRST_PAGE

    if (
        case.operation.method.upper() == "PUT"
        and case.operation.path == "/api/v1/tenants/{name}/datasets"
        and _positive(case, "body")
        and isinstance(case.body, dict)
        and isinstance(case.body.get("datasets"), list)
    ):
        seen = set()
        kept = []
        for item in case.body["datasets"]:
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                if name in seen:
                    continue
                seen.add(name)
            kept.append(item)
        case.body["datasets"] = kept
