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

4. POST /skills/catalog and PUT /skills/catalog/{id}: when `content` is
   given, `digest` must be its SHA-256 (a mismatch is a 400 naming
   `digest`), and an entitlement must name an existing group or a live
   tenant (else a 400 naming it). Positive bodies get the content's digest
   and no entitlements (see 6). And the 1 MiB body limit (413) is a byte limit JSON
   Schema cannot express: `content` may hold 262144 characters, which the
   generator escapes to up to 12 bytes each, so a long `content` (positive
   or negative) is re-sent as ASCII of the same length in characters.

And one works around a schemathesis 4.32.5 bug:

5. If-Match: its coverage phase only draws header values from [A-Za-z0-9],
   which no entity tag matches (they are quoted), and then sends a negative
   seed ("0") labelled positive ("All required properties and optional
   'If-Match'"). A positive header that does not match the declared pattern
   is therefore replaced by "*", a valid If-Match.

Catalog (mcp-servers, groups, third-party-sources; their lists are in
_LISTS for 2), rules JSON Schema cannot express:

6. A grant, group member, skill entitlement or policy subject that names a
   tenant must name a live one, and a group grant an existing group (a 400
   naming it otherwise: grants are bound to the tenant that holds the name
   when they are written). Random names are neither, so positive bodies drop
   them: MCP server grants, tenant members of groups, skill entitlements and
   `subjects.tenants` of policies.
7. Each awareness scope of a group, and each externalId of a third-party
   source, may appear once: positive bodies keep the first of each.
8. A group's name is immutable (a PUT with another name is a 400 naming
   it): positive PUT bodies drop `name`, which is optional there.

Users (the auth area; its list cursor is in _LISTS for 2):

9. The password policy (not one repeated character, not containing the
   email's local part, not a common password) is more than a length: a
   positive signup or change-password body gets a random policy-compliant
   password of the same schema (12-128 characters).

Gateway (models, AI budget accounts, gateway keys, fair-share groups; their
lists are in _LISTS for 2). A duplicate model name is a declared 409, an
account that is no user a declared 404; prices and ceilings are decimal
strings whose schema pattern is exactly what the server accepts. The fleet
has rules JSON Schema cannot express:

10. A heartbeat reports each tenant once, and a tenant's group must exist
    (`_fleet`).

Token usage (`_usage`; the raw records list is in _LISTS for 2):

11. A usage record names an existing tenant (required for the operator) and
    a registered model, at most as many cached as input tokens, and a time
    from 1970 to 5 minutes from now. Positive ingestion bodies get a tenant
    and a model the hook registers (again whenever the fuzzer deleted them),
    the current time, and cachedTokens capped at inputTokens.
12. A series has at most 10000 buckets in its range (a 400 naming `bucket`):
    a positive query whose range (clamped to 1970-9999, defaulting to the
    month to date) holds more gets a `to` 10000 buckets after the first.

Tenants (`_tenants`):

13. `ownerId` must name an existing user (a member of the tenant's
    organisation, if it has one), else a 400 naming it: positive tenant
    bodies leave it out.

And one header rule (in `before_call`): a header value that is not ASCII is
sent escaped with a space (see there), since Spin itself answers non-UTF-8
header values with a 500 before the API runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import re
import os
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import schemathesis

# The patterns of cp_http::params (IDEMPOTENCY_KEY_PATTERN, IF_MATCH_PATTERN).
_KEY = re.compile(r"^[!-~]{1,255}\Z")
_IF_MATCH = re.compile(r'^[ \t]*(\*|"[^,]*"([ \t]*,[ \t]*"[^,]*")*)[ \t]*\Z')
_COUNTER = itertools.count()
# Room for one string field in a request body (cp_http::json::MAX_BODY_BYTES is 1 MiB).
_BODY_BUDGET = 512 * 1024
# Keys must not collide with those of an earlier run on the same database either.
_RUN = uuid.uuid4().hex[:8]
# Each keyset list's cursor scope and a key that means "the start" (created
# 0, then the smallest name or id); lists not named here use the tenants'.
_LISTS = {
    "/api/v1/tenants": ("tenants", [0, ""]),
    "/api/v1/policies": ("policies", [0, ""]),
    "/api/v1/access-tokens": ("access-tokens", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/skills/catalog": ("skills", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/mcp-servers": ("mcp-servers", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/mcp-servers/{id}/credentials": ("mcp-server-credentials", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/groups": ("groups", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/third-party-sources": ("third-party-sources", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/auth/api-keys": ("api-keys", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/models": ("models", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/ai-budget/accounts": ("ai-budget-accounts", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/keys": ("gateway-keys", [0, "00000000-0000-0000-0000-000000000000"]),
    # Newest first: the start is the latest position a cursor can name.
    "/api/v1/token-usage": ("token-usage", [253402300799999999, "9223372036854775807"]),
    "/api/v1/fairshare/groups": ("fairshare-groups", [0, ""]),
    "/api/v1/organizations": ("organizations", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/organizations/{orgId}/members": ("org-members", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/organizations/{orgId}/invitations": ("org-invitations", [0, "00000000-0000-0000-0000-000000000000"]),
    # Newest first: a cursor before (0, nil) is an empty page, still one the server accepts.
    "/api/v1/organizations/{orgId}/events": ("org-events", [0, "00000000-0000-0000-0000-000000000000"]),
}


def _first_page(path: str) -> str:
    scope, key = _LISTS.get(path, _LISTS["/api/v1/tenants"])
    raw = json.dumps({"s": scope, "k": key}, separators=(",", ":")).encode()
    return "v1." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unique_key(key: str) -> str:
    suffix = f".{_RUN}.{next(_COUNTER):x}"
    return key[: 255 - len(suffix)] + suffix


def _is_issued_cursor(raw: str, path: str) -> bool:
    """What cp_http::pagination::Cursor::decode accepts for the list at `path`."""
    if not raw.startswith("v1."):
        return False
    payload = raw[3:]
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError):
        return False
    scope = _LISTS.get(path, _LISTS["/api/v1/tenants"])[0]
    if not isinstance(data, dict) or data.get("s") != scope:
        return False
    key = data.get("k")
    return (
        isinstance(key, list)
        and len(key) >= 2
        and isinstance(key[0], int)
        and not isinstance(key[0], bool)
        and isinstance(key[1], str)
    )


def _keep_first(items, field: str):
    seen = set()
    kept = []
    for item in items:
        value = item.get(field) if isinstance(item, dict) else None
        if isinstance(value, str):
            if value in seen:
                continue
            seen.add(value)
        kept.append(item)
    return kept


def _catalog(case) -> None:
    path = case.operation.path
    method = case.operation.method.upper()
    body = case.body
    if method not in ("POST", "PUT") or not isinstance(body, dict) or not _positive(case, "body"):
        return
    if path in ("/api/v1/mcp-servers", "/api/v1/mcp-servers/{id}") and isinstance(body.get("grants"), list):
        body["grants"] = []
    if path in ("/api/v1/groups", "/api/v1/groups/{id}") and isinstance(body.get("members"), list):
        body["members"] = [m for m in body["members"] if not (isinstance(m, dict) and m.get("kind") == "tenant")]
    if path in ("/api/v1/policies", "/api/v1/policies/{name}") and isinstance(body.get("subjects"), dict):
        if isinstance(body["subjects"].get("tenants"), list):
            body["subjects"]["tenants"] = []
    if path in ("/api/v1/groups", "/api/v1/groups/{id}") and isinstance(body.get("awarenessGrants"), list):
        body["awarenessGrants"] = _keep_first(body["awarenessGrants"], "scope")
    if path == "/api/v1/groups/{id}" and method == "PUT":
        body.pop("name", None)
    if path.startswith("/api/v1/third-party-sources") and isinstance(body.get("items"), list):
        body["items"] = _keep_first(body["items"], "externalId")


def _positive(case, location: str) -> bool:
    meta = case.meta
    return meta is None or not meta.is_negative_at(location)


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name in list(headers):
        value = headers[name]
        if isinstance(value, str) and not value.isascii():
            # Spin answers a header value that is not UTF-8 with a 500 before
            # any component runs (cp-host does the same), and HTTP clients
            # send such values as Latin-1 bytes: the API never sees them. The
            # value is sent escaped instead, with a space, which no token or
            # entity tag of this API allows, so a negative case stays one.
            headers[name] = "x " + value.encode("unicode_escape").decode("ascii")
            continue
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
    path = case.operation.path
    if isinstance(cursor, str) and _positive(case, "query") and not _is_issued_cursor(cursor, path):
        query["cursor"] = _first_page(path)

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

    skills_body = (case.operation.method.upper(), case.operation.path) in (
        ("POST", "/api/v1/skills/catalog"),
        ("PUT", "/api/v1/skills/catalog/{id}"),
    ) and isinstance(case.body, dict)
    if skills_body:
        content = case.body.get("content")
        if isinstance(content, str) and len(json.dumps(content)) > _BODY_BUDGET:
            case.body["content"] = "a" * len(content)
    if skills_body and _positive(case, "body"):
        content = case.body.get("content")
        if isinstance(content, str):
            case.body["digest"] = "sha256:" + hashlib.sha256(
                content.encode("utf-8", "surrogatepass")
            ).hexdigest()
        entitlements = case.body.get("entitlements")
        if isinstance(entitlements, list):
            case.body["entitlements"] = []

    _catalog(case)
    _tenants(case)
    _users(case)
    _fleet(case)
    _usage(case)


def _tenants(case) -> None:
    """Tenants: `ownerId` must name an existing user (a member of the
    tenant's organisation, if it has one), else a 400 naming it; a random id
    is neither, so positive tenant bodies leave the owner out."""
    path = case.operation.path
    body = case.body
    if (
        case.operation.method.upper() in ("POST", "PUT")
        and path in ("/api/v1/tenants", "/api/v1/tenants/{name}", "/api/v1/organizations/{orgId}/tenants")
        and isinstance(body, dict)
        and _positive(case, "body")
    ):
        body.pop("ownerId", None)


def _fleet(case) -> None:
    """Gateway fleet (10): a heartbeat reports each tenant once (a repeat is
    a 400 naming it), so positive bodies keep the first entry of each; a
    tenant's group must exist (a 400 naming `group`), so positive bodies
    assign the default group (null)."""
    method = case.operation.method.upper()
    path = case.operation.path
    body = case.body
    if not isinstance(body, dict) or not _positive(case, "body"):
        return
    if (method, path) == ("POST", "/api/v1/fairshare/heartbeat") and isinstance(body.get("tenants"), list):
        body["tenants"] = _keep_first(body["tenants"], "tenant")
    if (method, path) == ("PATCH", "/api/v1/tenants/{name}/group") and isinstance(body.get("group"), str):
        body["group"] = None


def _users(case) -> None:
    fields = {
        ("POST", "/api/v1/auth/signup"): "password",
        ("POST", "/api/v1/auth/change-password"): "newPassword",
    }
    field = fields.get((case.operation.method.upper(), case.operation.path))
    body = case.body
    if field is None or not isinstance(body, dict) or not _positive(case, "body"):
        return
    if not isinstance(body.get(field), str):
        return
    email = body.get("email")
    local = email.split("@")[0].strip().lower() if isinstance(email, str) else ""
    while True:
        password = "Pw-" + uuid.uuid4().hex
        if len(local) < 3 or local not in password.lower():
            body[field] = password
            return



_USAGE_FIXTURE: dict = {}


def _call(case, method: str, path: str, body=None) -> tuple[int, object]:
    """An operator request to the server under test (status, JSON body)."""
    request = urllib.request.Request(
        case.operation.schema.get_base_url().rstrip("/") + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {os.environ['CP_FUZZ_TOKEN']}",
                 "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None


def _usage_fixture(case) -> tuple[str, str]:
    """A tenant and a model for positive usage records. The fuzzer deletes
    tenants and models it finds, and renames models, so they are checked
    before each use and made again when gone or renamed."""
    tenant = _USAGE_FIXTURE.get("tenant")
    if tenant is None or _call(case, "GET", f"/api/v1/tenants/{tenant}")[0] != 200:
        tenant = f"fuzz-usage-{uuid.uuid4().hex[:10]}"
        _call(case, "POST", "/api/v1/tenants", {"name": tenant, "email": f"{tenant}@example.com"})
        _USAGE_FIXTURE["tenant"] = tenant
    model_id = _USAGE_FIXTURE.get("model_id")
    status, got = (0, None) if model_id is None else _call(case, "GET", f"/api/v1/models/{model_id}")
    # A PUT of the fuzzer may have renamed it (records name models by name).
    if status != 200 or got["data"]["name"] != _USAGE_FIXTURE.get("model"):
        name = f"fuzz-usage-{uuid.uuid4().hex[:10]}"
        status, created = _call(case, "POST", "/api/v1/models", {
            "name": name, "provider": "openai", "upstreamModel": "gpt-4o", "contextWindow": 128000,
            "inputPricePerMillion": "0.15", "outputPricePerMillion": "0.60"})
        if status == 201 and isinstance(created, dict):
            _USAGE_FIXTURE.update(model=name, model_id=created["data"]["id"])
    return _USAGE_FIXTURE["tenant"], _USAGE_FIXTURE.get("model", "")


_MIN_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
_BUCKETS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


def _instant(value, default: datetime) -> datetime | None:
    if value is None:
        return default
    try:
        t = datetime.fromisoformat(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if t.tzinfo is None:
        return None
    try:
        t = t.astimezone(timezone.utc)
    except OverflowError:
        return _MAX_TIME if t.year > 5000 else _MIN_TIME
    return min(max(t, _MIN_TIME), _MAX_TIME)


def _usage(case) -> None:
    """Token usage (11, 12)."""
    method = case.operation.method.upper()
    path = case.operation.path
    body = case.body
    if (method, path) == ("POST", "/api/v1/token-usage") and isinstance(body, dict) \
            and _positive(case, "body") and isinstance(body.get("records"), list):
        tenant, model = _usage_fixture(case)
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for record in body["records"]:
            if not isinstance(record, dict):
                continue
            record["tenant"], record["model"], record["timestamp"] = tenant, model, now
            cached, given = record.get("cachedTokens"), record.get("inputTokens")
            if isinstance(cached, (int, float)) and isinstance(given, (int, float)) and cached > given:
                record["cachedTokens"] = given
    query = case.query
    if method == "GET" and path in ("/api/v1/usage/series", "/api/v1/usage/series/tenants") \
            and isinstance(query, dict) and _positive(case, "query"):
        stride = _BUCKETS.get(query.get("bucket", "hour"))
        now = datetime.now(timezone.utc)
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        start, end = _instant(query.get("from"), month), _instant(query.get("to"), now)
        if stride is None or start is None or end is None or end <= start:
            return
        first = _MIN_TIME + ((start - _MIN_TIME) // stride) * stride
        if (end - first) > stride * 10000:
            query["from"] = start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            query["to"] = (first + stride * 10000).strftime("%Y-%m-%dT%H:%M:%SZ")
