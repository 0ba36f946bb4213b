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

Fixtures (`_owner`, `_operator`). tests/tests/fuzz.rs runs schemathesis
twice, as the operator and as a signed-up, email-verified organisation
owner, and passes what only it can make (users whose email is verified, a
browser session, the identity provider's ID tokens) in CP_FUZZ_FIXTURES; the
hooks make the rest through the API. JSON Schema can say that an id is a
UUID or a code has six digits, never that it names a live resource, belongs
to the caller or is current, so a positive request with a generated id,
token or code can only ever get a 404, 401, 403 or 409. Positive requests
therefore get live values, in the declared formats; negative cases are left
alone (except 16, which changes only the credential). Every request the
hooks make is logged to CP_FUZZ_FIXTURE_LOG, and fuzz.rs does not count it
as the fuzzer's.

Owner run (paths under /auth/, /organizations and /invitations/):

14. Path ids: a positive `orgId` names the owner's organisation (or one the
    owner created in this run, reached by a link of 27); `userId` the owner
    (reads) or a spare verified member (role changes and removal; never
    the one the fuzzer removed last, so a deleted member stays deleted for
    the scenario that deleted it; the others are invited and accepted again
    when the fuzzer removed them); `invitationId` a
    new pending invitation; `tenantId` a tenant of the organisation in the
    state the operation needs (suspended before a resume, active before a
    suspend, a new one to decommission, since that ends it); an API key
    `id` a new key of the owner.
15. Only the verified user whose email an invitation names may accept it
    (403 otherwise): a positive accept gets a new invitation for a spare
    verified user (removed from the organisation first if a member), and is
    sent with that user's token.
16. DELETE /auth/me, DELETE /auth/token and POST /auth/change-password end
    their caller's account or session, and the run needs the owner's token
    to the end: every such case sent with the owner's token, positive or
    negative, is sent with the token of a disposable signed-up user instead
    (made again once its token stops working). Only the credential changes,
    so a negative case stays negative; a positive change-password body gets
    that user's current password (a wrong one is a 400 naming it).
17. Passwords only the server knows: a positive PATCH /auth/me that changes
    the email (or names `currentPassword`) gets the owner's password, which
    a new email needs (a wrong one is a 400 naming it); a positive
    POST /auth/token logs in as the owner.
18. TOTP codes are right for one secret and one 30-second step, once per
    user and step (a wrong code is a 400 at verify-setup): a positive
    verify-setup runs as a new user with a setup in progress and gets the
    current code of its secret; a positive DELETE /auth/mfa runs as a user
    with MFA enabled and gets its password, not a code (exactly one of the
    two); a positive /auth/mfa/verify gets a fresh `mfaToken` of such a
    user (from POST /auth/token) and a code of a step it has not used.
19. A positive POST /auth/api-key-token body gets a new key of the owner.
20. ID tokens must be the provider's, unused and unexpired: positive
    POST /auth/oidc-token bodies get the ones fuzz.rs minted (for the
    owner's email, so that the exchange links the owner's verified account
    whether or not schemathesis sends a token); once used up, bodies stay
    as generated.
21. Device login: approve and deny need a pending user code, the browser
    session's cookie and its page's CSRF token. Positive forms get a new
    device login's code and the fixture session's token, and are sent with
    its cookie; a positive activation page is requested with the cookie
    (and a new pending code when it asks for one).
22. GET /auth/callback needs the `state` and `code` of a login the same
    browser started: a positive callback gets the query the test provider
    sends back after a GET /auth/login and a sign-in as a new email, and
    the login cookie.
23. A tenant of an organisation may not set the operator's fields
    (`policyRef`, `clusterTenantRef`: 403 FIELD_FORBIDDEN) nor exceed the
    organisation's limits (`resources`, `monthlyBudgetUsd`: 403
    LIMIT_EXCEEDED), which are configuration, not schema: positive bodies
    of the owner run leave them out (all four are optional).

Operator run:

24. A positive DELETE /keys/{id} or PUT /keys/{id}/disabled gets a new
    gateway key of the usage tenant of 11.
25. GET /ai-budget/accounts/spend reads the tenant named `accounts` (its
    path would otherwise be an account's): it is made when missing.
28. Vaults (`_vault`): a vault belongs to an organisation, which only a
    user creates: the hook signs one up, makes an organisation and a vault
    in it, and positive vault paths name that vault (made again when the
    fuzzer deleted it) and positive creates that organisation. A positive
    secret path names a secret the hook writes first (deleted first, for a
    restore), a version change names version 1, a policy id a new policy.
    Rules JSON Schema cannot express: a `json` secret's value must parse as
    JSON (positive bodies send the generated string as a JSON string); a
    value is at most 65536 bytes (maxLength counts characters: positive
    values are cut to fit); a policy's `notAfter` is not before its
    `notBefore` (positive bodies order the two).
29. Client-side CMEK changes what a vault accepts (values must then be the
    client's ciphertext), so its operations never touch the shared vault of
    28: a positive CMEK path names a new vault in the state the operation
    needs (without CMEK to enable it, with CMEK to disable or rotate it,
    with a finished rotation to read its job). A rotation's two keys must
    match the vault's and the body's fingerprints (a 400 naming the header
    otherwise): positive rotations get a key of the vault as the old key, a
    fresh key as the new one, and its fingerprint in the body.
30. Sharing (`_share`): a positive `{secretId}` names a secret the hook
    writes in the vault of 28; a positive `{shareId}` names a new share of
    one: to the vault's owner for accept and decline (sent as that owner,
    the recipient), to anyone with the link for a revoke and for the public
    GET /share/{shareId} (whose positive `X-Share-Key` is that share's key).
    Rules JSON Schema cannot express (`_share_body`): each recipient field
    belongs to its `recipientType` (others are dropped, a missing one is
    filled: the vault's owner as `userId`, an agent the hook registers as
    `agentId`); `expiresAt` lies within 90 days (positive
    ones are set a day ahead); a pinned `version` must exist (dropped).
31. A refresh token works once: a positive POST /auth/refresh body names
    the refresh token of a user the hook signs up for it. A verification
    resend needs an unverified email: it is sent as a new sign-up. (A
    verification token reaches only the mail sender: POST /auth/verify-email
    gets no positive token here; tests/tests/email_verification.rs covers it.)
32. Agents (`_agents`): a positive POST /agents registers in the run's
    organisation (the owner's, or the operator's vault organisation of
    28); `vaultIds` of positive bodies are emptied (random ids name no
    vault of it: a 400 naming them); a positive `{agentId}` names an agent
    the hook registers there; a positive POST /auth/agent-token carries a
    registered agent's id and key; GET /agents/me is sent as a registered
    agent (with its token). A positive POST /agents/enroll enrols into the
    run's organisation; a positive `{enrollmentId}` names a new pending
    enrolment of it, and for a claim an approved one, whose claim token
    the body then carries.
33. Chains (`_chains`): a positive chain body's `rpcUrl` is the local
    node's (`chain_rpc_allowed_host` allows nothing else); a positive
    `{chainId}` names a chain the hook registers, a positive `{identifier}`
    an enabled one (by registry id or EVM chain id).
26. A positive litellm-key path names the usage tenant, whose LiteLLM key
    (alias `tenant/<name>`) is made with the LiteLLM stand-in's admin API,
    as an operator seeds keys, when there is none (a revoke deletes it).

And links (`before_load_schema`):

27. The document's links do not start at sign-up or organisation creation:
    the stateful phase also follows POST /organizations to the new
    organisation's reads, invitations and tenants, and POST /auth/signup to
    a log-in with the same credentials, the new user's own session
    operations (with their token) and, for the operator, their account
    budget. Links only choose values; every response is checked as before.
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
import urllib.parse
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
    "/api/v1/vaults": ("vaults", [0, "00000000-0000-0000-0000-000000000000"]),
    # By path: the empty path sorts first.
    "/api/v1/vaults/{vaultId}/secrets": ("vault-secrets", [""]),
    "/api/v1/vaults/{vaultId}/policies": ("vault-policies", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/shares/outbound": ("vault-shares-outbound", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/shares/inbound": ("vault-shares-inbound", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/agents": ("agents", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/agents/enrollments": ("agent-enrollments", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/chains": ("chains", [0, "00000000-0000-0000-0000-000000000000"]),
    "/api/v1/admin/chains": ("chains", [0, "00000000-0000-0000-0000-000000000000"]),
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
    _vault_bodies(case)
    _share_body(case)
    _agents(case)
    _chains(case)
    if _ROLE == "owner":
        _owner(case)
    else:
        _operator(case)


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


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _request(url: str, method: str = "GET", data: bytes | None = None,
             headers: dict | None = None):
    """One request, redirects not followed: (status, body, headers)."""
    request = urllib.request.Request(url, method=method, data=data, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=30) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def _log_fixture_request(method: str, path: str, status: int) -> None:
    """Notes a request the hooks made (in cp-host's log format), so that
    tests/tests/fuzz.rs counts only the fuzzer's own requests."""
    log = os.environ.get("CP_FUZZ_FIXTURE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"cp-host: {method} {path.split('?')[0]} {status} fixture 0ms\n")


def _call(case, method: str, path: str, body=None, token: str | None = None,
          headers: dict | None = None) -> tuple[int, object]:
    """A request to the server under test (status, JSON body): as this run's
    principal (CP_FUZZ_TOKEN) unless `token` names another, or anonymous
    with `token=""`."""
    token = os.environ["CP_FUZZ_TOKEN"] if token is None else token
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    status, raw, _ = _request(
        case.operation.schema.get_base_url().rstrip("/") + path, method,
        None if body is None else json.dumps(body).encode(), sent)
    _log_fixture_request(method, path, status)
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode("utf-8", "replace")


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


# --- Fixtures: live resources for positive requests (14-27) ---

# What tests/tests/fuzz.rs made before the run (JSON): the run's `role`
# (`operator` or `owner`); for the owner run the owner (`id`, `email`,
# `token`), its organisation `orgId`, the `password` of every user the test
# signs up, `spares` (verified users who can accept invitations), a browser
# `session` cookie and provider `idTokens`; for the operator run `litellm`
# (the stand-in's `url` and `masterKey`).
_FIXTURES: dict = json.loads(os.environ.get("CP_FUZZ_FIXTURES") or "{}")
_ROLE = _FIXTURES.get("role", "operator")
_STATE: dict = {}
_SESSION_COOKIE = "__Host-cp_session"


def _own_auth(case) -> str | None:
    """The name of the case's Authorization header when it carries this
    run's own credential (not a generated or removed one)."""
    for name, value in (case.headers or {}).items():
        if name.lower() == "authorization" and value == f"Bearer {os.environ['CP_FUZZ_TOKEN']}":
            return name
    return None


def _act_as(case, token: str) -> None:
    """Sends the case as another user when it carries this run's credential."""
    name = _own_auth(case)
    if name is not None:
        case.headers[name] = f"Bearer {token}"


def _path_param(case, name: str, value: str) -> None:
    if isinstance(case.path_parameters, dict) and name in case.path_parameters \
            and _positive(case, "path"):
        case.path_parameters[name] = value


def _signed_up(case) -> dict:
    """A new user signed up through the API: id, email, token, password."""
    email = f"fuzz-user-{uuid.uuid4().hex[:12]}@example.com"
    password = _FIXTURES["password"]
    status, created = _call(case, "POST", "/api/v1/auth/signup",
                            {"email": email, "password": password}, token="")
    assert status == 201, f"fixture signup: {status} {created}"
    return {"id": created["data"]["user"]["id"], "email": email, "password": password,
            "token": created["data"]["accessToken"], "refresh": created["data"]["refreshToken"]}


def _disposable(case) -> dict:
    """A signed-up user for the operations that end their caller's session
    or account (16); made again once its token no longer works."""
    user = _STATE.get("disposable")
    if user is None or _call(case, "GET", "/api/v1/auth/mfa/status", token=user["token"])[0] != 200:
        user = _STATE["disposable"] = _signed_up(case)
    return user


def _totp(secret: str, step: int) -> str:
    """RFC 6238 (SHA-1, 6 digits) of a base32 secret at a 30-second step."""
    import hmac
    import struct
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def _now_step() -> int:
    return int(datetime.now(timezone.utc).timestamp()) // 30


def _mfa_pending(case) -> tuple[dict, str]:
    """A new user with an MFA setup in progress, and its secret."""
    user = _signed_up(case)
    status, setup = _call(case, "POST", "/api/v1/auth/mfa/setup", token=user["token"])
    assert status == 200, f"fixture MFA setup: {status} {setup}"
    return user, setup["data"]["secret"]


def _mfa_enabled(case) -> dict:
    """A user with MFA enabled (and the last time step a code of it was
    used), made when the last one was disabled or has no fresh step left."""
    user = _STATE.get("mfa")
    if user is not None:
        status, mfa = _call(case, "GET", "/api/v1/auth/mfa/status", token=user["token"])
        if status == 200 and mfa["data"].get("enabled") and user["step"] < _now_step() + 1:
            return user
    user, secret = _mfa_pending(case)
    step = _now_step()
    status, enabled = _call(case, "POST", "/api/v1/auth/mfa/verify-setup",
                            {"code": _totp(secret, step)}, token=user["token"])
    assert status == 200, f"fixture MFA verify-setup: {status} {enabled}"
    user.update(secret=secret, step=step)
    _STATE["mfa"] = user
    return user


def _member(case) -> dict:
    """A spare user who is a member of the owner's organisation. The member
    the fuzzer removed last is never brought back for the next request: a
    stateful scenario that removes a member and then addresses it again must
    get its 404. Another spare is used instead (invited and accepted again
    if the fuzzer removed it earlier)."""
    org = _FIXTURES["orgId"]
    removed = _STATE.get("removedMembers", [])
    # Never removed first, then the longest ago; the latest one not at all.
    spares = sorted(
        (u for u in _FIXTURES["spares"] if not removed or u["id"] != removed[-1]),
        key=lambda u: removed.index(u["id"]) if u["id"] in removed else -1,
    )
    for user in spares:
        if _call(case, "GET", f"/api/v1/organizations/{org}/members/{user['id']}")[0] == 200:
            return user
    _invite_and_accept(case, spares[0])
    return spares[0]


def _invitation_for(case, email: str, role: str = "member") -> dict:
    org = _FIXTURES["orgId"]
    status, created = _call(case, "POST", f"/api/v1/organizations/{org}/invitations",
                            {"email": email, "role": role})
    assert status == 201, f"fixture invitation: {status} {created}"
    return created["data"]


def _invite_and_accept(case, user: dict) -> None:
    token = _invitation_for(case, user["email"])["plainTextToken"]
    status, joined = _call(case, "POST", f"/api/v1/invitations/{token}/accept", token=user["token"])
    assert status == 200, f"fixture accept: {status} {joined}"


def _invitee(case) -> tuple[dict, str]:
    """A verified spare user who is no member (removed first if they are),
    and a fresh invitation token for their email."""
    org = _FIXTURES["orgId"]
    spares = _FIXTURES["spares"][1:]
    user = spares[next(_COUNTER) % len(spares)]
    _call(case, "DELETE", f"/api/v1/organizations/{org}/members/{user['id']}")
    return user, _invitation_for(case, user["email"])["plainTextToken"]


def _org_tenant(case, path: str) -> str:
    """A tenant of the owner's organisation in the state the operation
    needs: suspended to resume, active to suspend, a fresh one to
    decommission (it ends the tenant)."""
    org = _FIXTURES["orgId"]
    tenant = _STATE.get("org_tenant")
    if tenant is not None and not path.endswith("/decommission"):
        status, got = _call(case, "GET", f"/api/v1/organizations/{org}/tenants/{tenant}")
        if status != 200 or got["data"]["state"] == "decommissioned":
            tenant = None
    if tenant is None or path.endswith("/decommission"):
        name = f"fuzz-org-{uuid.uuid4().hex[:10]}"
        status, created = _call(case, "POST", f"/api/v1/organizations/{org}/tenants",
                                {"name": name, "email": f"{name}@example.com"})
        assert status == 201, f"fixture organisation tenant: {status} {created}"
        tenant = created["data"]["id"]
        if not path.endswith("/decommission"):
            _STATE["org_tenant"] = tenant
    if path.endswith("/resume"):
        _call(case, "POST", f"/api/v1/organizations/{org}/tenants/{tenant}/suspend")
    elif path.endswith("/suspend"):
        _call(case, "POST", f"/api/v1/organizations/{org}/tenants/{tenant}/resume")
    return tenant


def _api_key(case) -> dict:
    status, created = _call(case, "POST", "/api/v1/auth/api-keys", {"name": "fuzz fixture"})
    assert status == 201, f"fixture API key: {status} {created}"
    return created["data"]


def _device_code(case) -> str:
    """The user code of a new device login."""
    status, started = _call(case, "POST", "/api/v1/auth/device", token="")
    assert status == 201, f"fixture device login: {status} {started}"
    return started["data"]["userCode"]


def _session_cookie() -> str:
    return f"{_SESSION_COOKIE}={_FIXTURES['session']}"


def _csrf(case) -> str:
    """The activation page's CSRF token of the fixture session."""
    if "csrf" not in _STATE:
        url = case.operation.schema.get_base_url().rstrip("/") \
            + f"/api/v1/auth/device/activate?userCode={_device_code(case)}"
        status, page, _ = _request(url, headers={"Cookie": _session_cookie()})
        _log_fixture_request("GET", "/api/v1/auth/device/activate", status)
        found = re.search(rb'name="csrfToken" value="([^"]*)"', page)
        assert status == 200 and found, f"fixture activation page: {status} {page[:300]!r}"
        _STATE["csrf"] = found.group(1).decode()
    return _STATE["csrf"]


def _cookies(jar: dict, headers) -> None:
    for line in headers.get_all("Set-Cookie") or []:
        name, _, rest = line.partition("=")
        jar[name.strip()] = rest.split(";")[0]


def _cookie_header(jar: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def _browser_login(case) -> tuple[str, str] | None:
    """What a browser brings to GET /auth/callback: GET /auth/login (its
    login cookie), then a sign-in at the test provider as a new email,
    following redirects until the provider sends the browser back. Returns
    the callback URL's query and the Cookie header, or None."""
    base = case.operation.schema.get_base_url().rstrip("/")
    status, _, headers = _request(base + "/api/v1/auth/login")
    _log_fixture_request("GET", "/api/v1/auth/login", status)
    ours: dict = {}
    _cookies(ours, headers)
    url = headers.get("Location")
    if status != 302 or not url:
        return None
    theirs: dict = {}
    data = None
    for _ in range(12):
        method = "POST" if data is not None else "GET"
        sent = {"Cookie": _cookie_header(theirs)}
        if data is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        status, page, headers = _request(url, method, data, sent)
        _cookies(theirs, headers)
        data = None
        if 300 <= status < 400:
            url = urllib.parse.urljoin(url, headers.get("Location"))
            if url.startswith(base + "/api/v1/auth/callback"):
                return urllib.parse.urlsplit(url).query, _cookie_header(ours)
            continue
        form = re.search(rb'<form method="post" action="([^"]*)"', page)
        if status != 200 or not form:
            return None
        url = urllib.parse.urljoin(url, form.group(1).decode().replace("&amp;", "&"))
        data = urllib.parse.urlencode({"email": f"fuzz-browser-{uuid.uuid4().hex[:10]}@example.com"}).encode()
    return None


def _owner(case) -> None:
    """The owner run's fixtures (14-23)."""
    method, path = case.operation.method.upper(), case.operation.path
    if case.method.upper() != method:
        # The coverage phase's unexpected methods: a 405 whatever the values.
        return
    params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    body = case.body if isinstance(case.body, dict) else None
    positive_path = _positive(case, "path")
    positive_body = body is not None and _positive(case, "body")
    owner = _FIXTURES["owner"]
    password = _FIXTURES["password"]

    if "orgId" in params and positive_path:
        known = params["orgId"] in _STATE.setdefault("orgs", set())
        if not known or any(p in params for p in ("userId", "invitationId", "tenantId")):
            params["orgId"] = _FIXTURES["orgId"]
        if "userId" in params:
            params["userId"] = owner["id"] if method == "GET" else _member(case)["id"]
        if "invitationId" in params:
            params["invitationId"] = _invitation_for(
                case, f"fuzz-invitee-{uuid.uuid4().hex[:10]}@example.com")["id"]
        if "tenantId" in params:
            params["tenantId"] = _org_tenant(case, path)

    if (method, path) == ("POST", "/api/v1/organizations/{orgId}/tenants") and positive_body:
        for field in ("policyRef", "clusterTenantRef", "resources", "monthlyBudgetUsd"):
            body.pop(field, None)
    elif (method, path) == ("DELETE", "/api/v1/auth/api-keys/{id}") and positive_path:
        params["id"] = _api_key(case)["id"]
    elif (method, path) == ("POST", "/api/v1/auth/api-key-token") and positive_body:
        body["apiKey"] = _api_key(case)["plainTextKey"]
    elif (method, path) == ("POST", "/api/v1/invitations/{token}/accept") and positive_path \
            and _own_auth(case):
        user, token = _invitee(case)
        params["token"] = token
        _act_as(case, user["token"])
    elif (method, path) in (("DELETE", "/api/v1/auth/me"), ("DELETE", "/api/v1/auth/token"),
                            ("POST", "/api/v1/auth/change-password")) and _own_auth(case):
        user = _disposable(case)
        _act_as(case, user["token"])
        if positive_body and "currentPassword" in body:
            body["currentPassword"] = user["password"]
    elif (method, path) == ("PATCH", "/api/v1/auth/me") and positive_body \
            and ("email" in body or "currentPassword" in body):
        body["currentPassword"] = password
    elif (method, path) == ("POST", "/api/v1/auth/token") and positive_body:
        body.update(email=owner["email"], password=password)
    elif (method, path) == ("POST", "/api/v1/auth/verify-email/resend") and _own_auth(case):
        # Something to verify: a new sign-up's unverified email.
        _act_as(case, _signed_up(case)["token"])
    elif (method, path) == ("POST", "/api/v1/auth/refresh") and positive_body:
        # A refresh token works once: a new sign-up's, each time.
        body["refreshToken"] = _signed_up(case)["refresh"]
    elif (method, path) == ("POST", "/api/v1/auth/mfa/verify-setup") and _own_auth(case):
        if positive_body:
            user, secret = _mfa_pending(case)
            body["code"] = _totp(secret, _now_step())
            _act_as(case, user["token"])
    elif (method, path) == ("DELETE", "/api/v1/auth/mfa") and positive_body and _own_auth(case):
        user = _mfa_enabled(case)
        body.pop("code", None)
        body["password"] = user["password"]
        _act_as(case, user["token"])
    elif (method, path) == ("POST", "/api/v1/auth/mfa/verify") and positive_body:
        user = _mfa_enabled(case)
        status, challenge = _call(case, "POST", "/api/v1/auth/token",
                                  {"email": user["email"], "password": user["password"]}, token="")
        if status == 200 and challenge["data"].get("mfaToken"):
            user["step"] = max(_now_step() - 1, user["step"] + 1)
            body.update(mfaToken=challenge["data"]["mfaToken"], code=_totp(user["secret"], user["step"]))
    elif (method, path) == ("POST", "/api/v1/auth/oidc-token") and positive_body:
        tokens = _FIXTURES.get("idTokens") or []
        if tokens:
            body["idToken"] = tokens.pop()

    elif (method, path) in (("POST", "/api/v1/auth/device/approve"),
                            ("POST", "/api/v1/auth/device/deny")) and positive_body:
        body.update(userCode=_device_code(case), csrfToken=_csrf(case))
        case.headers = {**(case.headers or {}), "Cookie": _session_cookie()}
    elif (method, path) == ("GET", "/api/v1/auth/callback") and _positive(case, "query") \
            and isinstance(case.query, dict):
        login = _browser_login(case)
        if login is not None:
            query, cookie = login
            case.query.clear()
            case.query.update(urllib.parse.parse_qsl(query))
            case.headers = {**(case.headers or {}), "Cookie": cookie}
    elif (method, path) == ("GET", "/api/v1/auth/device/activate") and _positive(case, "query"):
        if isinstance(case.query, dict) and "userCode" in case.query:
            case.query["userCode"] = _device_code(case)
        case.headers = {**(case.headers or {}), "Cookie": _session_cookie()}


def _operator(case) -> None:
    """The operator run's fixtures (24-26)."""
    method, path = case.operation.method.upper(), case.operation.path
    if case.method.upper() != method or not _positive(case, "path"):
        return
    if path in ("/api/v1/keys/{id}", "/api/v1/keys/{id}/disabled"):
        tenant, _ = _usage_fixture(case)
        status, created = _call(case, "POST", f"/api/v1/tenants/{tenant}/keys",
                                {"name": f"fuzz-key-{uuid.uuid4().hex[:10]}"})
        if status == 201:
            _path_param(case, "id", created["data"]["id"])
    elif (method, path) == ("GET", "/api/v1/ai-budget/accounts/spend"):
        if _call(case, "GET", "/api/v1/tenants/accounts")[0] == 404:
            _call(case, "POST", "/api/v1/tenants", {"name": "accounts", "email": "accounts@example.com"})
    elif path.startswith("/api/v1/vaults"):
        _vault(case)
    elif path.startswith(("/api/v1/secrets/", "/api/v1/shares/", "/api/v1/share/")):
        _share(case)
    elif path.startswith("/api/v1/ai-budget/{tenantName}/litellm-key"):
        tenant, _ = _usage_fixture(case)
        _litellm_key(tenant)
        _path_param(case, "tenantName", tenant)


def _vault_fixture(case) -> tuple[str, str]:
    """An organisation (owned by a user signed up for it) and a vault in it
    (28), made again when the fuzzer deleted the vault."""
    state = _STATE.setdefault("vault", {})
    if "org" not in state:
        # The operator run has no fixture password: a fresh one of the policy.
        email = f"fuzz-vaults-{uuid.uuid4().hex[:12]}@example.com"
        status, owner = _call(case, "POST", "/api/v1/auth/signup",
                              {"email": email, "password": f"Vault-{uuid.uuid4().hex}"}, token="")
        assert status == 201, f"fixture signup: {status} {owner}"
        status, org = _call(case, "POST", "/api/v1/organizations",
                            {"name": f"fuzz-vaults-{_RUN}"}, token=owner["data"]["accessToken"])
        assert status == 201, f"fixture organisation: {status} {org}"
        state["org"] = org["data"]["id"]
        state["owner"] = {"id": owner["data"]["user"]["id"], "token": owner["data"]["accessToken"]}
    vault = state.get("vault")
    if vault is None or _call(case, "GET", f"/api/v1/vaults/{vault}")[0] != 200:
        status, created = _call(case, "POST", "/api/v1/vaults",
                                {"orgId": state["org"], "name": f"fuzz-{uuid.uuid4().hex[:12]}"})
        assert status == 201, f"fixture vault: {status} {created}"
        state["vault"] = created["data"]["id"]
    return state["org"], state["vault"]


def _vault_bodies(case) -> None:
    """Vault bodies' rules JSON Schema cannot express (28)."""
    method, path = case.operation.method.upper(), case.operation.path
    body = case.body
    if not path.startswith("/api/v1/vaults") or not isinstance(body, dict) \
            or not _positive(case, "body"):
        return
    if (method, path) == ("PUT", "/api/v1/vaults/{vaultId}/secrets/{path}"):
        value = body.get("value")
        if isinstance(value, str):
            if body.get("type") == "json":
                value = json.dumps(value)
            while len(value.encode("utf-8", "surrogatepass")) > 65536 or len(value) > 65536:
                value = value[: len(value) // 2] or "x"
            body["value"] = value
    conditions = body.get("conditions")
    if isinstance(conditions, dict):
        start, end = conditions.get("notBefore"), conditions.get("notAfter")
        a, b = _instant(start, _MIN_TIME), _instant(end, _MAX_TIME)
        if isinstance(start, str) and isinstance(end, str) and a and b and b < a:
            conditions["notBefore"], conditions["notAfter"] = end, start


def _cmek_key() -> tuple[str, str]:
    """A customer key: its base64 header form and its fingerprint."""
    key = os.urandom(32)
    return base64.b64encode(key).decode("ascii"), hashlib.sha256(key).hexdigest()


def _cmek(case, org: str) -> None:
    """CMEK operations on a vault of their own, in the state they need (29)."""
    method, path = case.operation.method.upper(), case.operation.path
    status, created = _call(case, "POST", "/api/v1/vaults",
                            {"orgId": org, "name": f"fuzz-cmek-{uuid.uuid4().hex[:12]}"})
    if status != 201:
        return
    vault = created["data"]["id"]
    _path_param(case, "vaultId", vault)
    if (method, path) == ("POST", "/api/v1/vaults/{vaultId}/cmek"):
        return
    old_header, old_fp = _cmek_key()
    _call(case, "POST", f"/api/v1/vaults/{vault}/cmek", {"fingerprint": old_fp})
    new_header, new_fp = _cmek_key()
    if path == "/api/v1/vaults/{vaultId}/cmek-rotate":
        if _positive(case, "header"):
            # In place: the case's headers also carry its credential.
            if case.headers is None:
                case.headers = {}
            headers = case.headers
            for name in list(headers):
                if name.lower() in ("x-cmek-old-key", "x-cmek-new-key"):
                    del headers[name]
            headers["x-cmek-old-key"] = old_header
            headers["x-cmek-new-key"] = new_header
        if isinstance(case.body, dict) and _positive(case, "body"):
            case.body["fingerprint"] = new_fp
    elif path == "/api/v1/vaults/{vaultId}/cmek-rotate/{jobId}":
        status, job = _call(case, "POST", f"/api/v1/vaults/{vault}/cmek-rotate",
                            {"fingerprint": new_fp},
                            headers={"x-cmek-old-key": old_header, "x-cmek-new-key": new_header})
        if status == 200:
            _path_param(case, "jobId", job["data"]["id"])


def _vault(case) -> None:
    """Vault paths and ids name live resources (28, 29)."""
    method, path = case.operation.method.upper(), case.operation.path
    if not path.startswith("/api/v1/vaults"):
        return
    org, vault = _vault_fixture(case)
    if "/cmek" in path:
        if _positive(case, "path"):
            _cmek(case, org)
        return
    if (method, path) == ("POST", "/api/v1/vaults") and isinstance(case.body, dict) \
            and _positive(case, "body"):
        case.body["orgId"] = org
    if not _positive(case, "path"):
        return
    _path_param(case, "vaultId", vault)
    if "{path}" in path:
        secret = f"fuzz/{uuid.uuid4().hex[:10]}"
        _call(case, "PUT", f"/api/v1/vaults/{vault}/secrets/{secret}",
              {"type": "note", "value": "fuzz fixture"})
        if path.startswith("/api/v1/vaults/{vaultId}/restore/"):
            _call(case, "DELETE", f"/api/v1/vaults/{vault}/secrets/{secret}")
        _path_param(case, "path", secret)
        if method == "PATCH" and isinstance(case.body, dict) and _positive(case, "body"):
            case.body["version"] = 1
    if "{policyId}" in path:
        status, created = _call(case, "POST", f"/api/v1/vaults/{vault}/policies", {
            "principal": {"kind": "group", "id": "fuzz"}, "actions": ["read"],
            "pathGlob": "fuzz/**", "effect": "allow"})
        if status == 201:
            _path_param(case, "policyId", created["data"]["id"])


def _agent_org(case) -> str:
    """The organisation the run registers agents in (32)."""
    return _FIXTURES["orgId"] if _ROLE == "owner" else _vault_fixture(case)[0]


def _registered_agent(case) -> dict | None:
    """A new agent of the run's organisation, with its key and a token."""
    status, created = _call(case, "POST", "/api/v1/agents",
                            {"orgId": _agent_org(case), "name": f"fuzz-{uuid.uuid4().hex[:12]}"})
    if status != 201:
        return None
    agent = {"id": created["data"]["id"], "key": created["data"]["apiKey"]}
    status, token = _call(case, "POST", "/api/v1/auth/agent-token",
                          {"agentId": agent["id"], "apiKey": agent["key"]}, token="")
    if status == 200:
        agent["token"] = token["data"]["accessToken"]
    return agent


def _enrollment(case, approve: bool) -> dict | None:
    """A new enrolment into the run's organisation (approved when
    `approve`), with its claim token."""
    status, created = _call(case, "POST", "/api/v1/agents/enroll",
                            {"orgId": _agent_org(case), "name": f"fuzz-{uuid.uuid4().hex[:12]}",
                             "approverEmail": "fuzz-approver@example.com"}, token="")
    if status != 202:
        return None
    enrollment = {"id": created["data"]["id"], "claimToken": created["data"]["claimToken"]}
    if approve:
        status, _ = _call(case, "POST", f"/api/v1/agents/enrollments/{enrollment['id']}/approve", {})
        if status != 200:
            return None
    return enrollment


def _agents(case) -> None:
    """Agents' bodies and paths name the run's organisation and live
    agents (32)."""
    method, path = case.operation.method.upper(), case.operation.path
    if case.method.upper() != method:
        return
    body = case.body if isinstance(case.body, dict) and _positive(case, "body") else None
    if path in ("/api/v1/agents", "/api/v1/agents/enroll") and method == "POST" \
            and body is not None:
        body["orgId"] = _agent_org(case)
    if "{enrollmentId}" in path and _positive(case, "path"):
        claiming = path.endswith("/claim")
        enrollment = _enrollment(case, approve=claiming)
        if enrollment is not None:
            _path_param(case, "enrollmentId", enrollment["id"])
            if claiming and body is not None:
                body["claimToken"] = enrollment["claimToken"]
    if path.startswith("/api/v1/agents") and body is not None and "vaultIds" in body:
        body["vaultIds"] = []
    if "{agentId}" in path and _positive(case, "path"):
        agent = _registered_agent(case)
        if agent is not None:
            _path_param(case, "agentId", agent["id"])
    elif (method, path) == ("POST", "/api/v1/auth/agent-token") and body is not None:
        agent = _registered_agent(case)
        if agent is not None:
            body["agentId"], body["apiKey"] = agent["id"], agent["key"]
    elif (method, path) == ("GET", "/api/v1/agents/me"):
        agent = _registered_agent(case)
        if agent is not None and "token" in agent:
            _act_as(case, agent["token"])


def _registered_chain(case) -> dict | None:
    """A new enabled chain (the operator run's; the owner may register none)."""
    status, created = _call(case, "POST", "/api/v1/admin/chains", {
        "name": f"fuzz-{uuid.uuid4().hex[:12]}", "chainId": 10_000_000 + uuid.uuid4().int % 10**9,
        "rpcUrl": "http://127.0.0.1:8545",
        "nativeCurrency": {"name": "Ether", "symbol": "ETH", "decimals": 18}})
    return created["data"] if status == 201 else None


def _chains(case) -> None:
    """Chains' bodies and paths name reachable endpoints and live chains (33)."""
    method, path = case.operation.method.upper(), case.operation.path
    if case.method.upper() != method or not path.startswith(("/api/v1/chains", "/api/v1/admin/chains")):
        return
    body = case.body if isinstance(case.body, dict) and _positive(case, "body") else None
    if body is not None and "rpcUrl" in body:
        body["rpcUrl"] = "http://127.0.0.1:8545"
    for name in ("chainId", "identifier"):
        if "{" + name + "}" in path and _positive(case, "path"):
            chain = _registered_chain(case)
            if chain is not None:
                _path_param(case, name, chain["id"] if name == "chainId" else str(chain["chainId"]))


def _share_body(case) -> None:
    """A share body's rules JSON Schema cannot express (30)."""
    method, path = case.operation.method.upper(), case.operation.path
    body = case.body
    if (method, path) != ("POST", "/api/v1/secrets/{secretId}/share") \
            or not isinstance(body, dict) or not _positive(case, "body"):
        return
    kind = body.get("recipientType")
    if kind == "agent":
        agent = _registered_agent(case)
        if agent is None:
            kind = body["recipientType"] = "anyone_with_link"
        else:
            body["agentId"] = agent["id"]
    for field, owner in (("userId", "user"), ("agentId", "agent"), ("email", "external_email")):
        if kind != owner:
            body.pop(field, None)
    if kind == "user":
        owner = _STATE.get("vault", {}).get("owner")
        if owner is None:
            body["recipientType"] = "anyone_with_link"
            body.pop("userId", None)
        else:
            body["userId"] = owner["id"]
    elif kind == "external_email" and not isinstance(body.get("email"), str):
        body["email"] = "fuzz-share@example.com"
    if "expiresAt" in body:
        body["expiresAt"] = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    body.pop("version", None)


def _share(case) -> None:
    """Sharing paths name live secrets and shares (30)."""
    method, path = case.operation.method.upper(), case.operation.path
    if not _positive(case, "path") or ("{secretId}" not in path and "{shareId}" not in path):
        return
    _, vault = _vault_fixture(case)
    secret = f"fuzz/share-{uuid.uuid4().hex[:10]}"
    status, written = _call(case, "PUT", f"/api/v1/vaults/{vault}/secrets/{secret}",
                            {"type": "note", "value": "fuzz fixture"})
    if status != 201:
        return
    secret_id = written["data"]["id"]
    if "{secretId}" in path:
        _path_param(case, "secretId", secret_id)
        if isinstance(case.body, dict) and case.body.get("recipientType") == "user" \
                and _positive(case, "body"):
            # _share_body ran before the fixture existed on the run's first share.
            case.body["userId"] = _STATE["vault"]["owner"]["id"]
        return
    owner = _STATE["vault"]["owner"]
    answering = path.startswith("/api/v1/shares/{shareId}/")
    body = {"recipientType": "user", "userId": owner["id"]} if answering \
        else {"recipientType": "anyone_with_link"}
    status, created = _call(case, "POST", f"/api/v1/secrets/{secret_id}/share", body)
    if status != 201:
        return
    _path_param(case, "shareId", created["data"]["id"])
    if answering:
        _act_as(case, owner["token"])
    elif method == "GET" and _positive(case, "header"):
        # In place: the case's headers also carry its credential.
        if case.headers is None:
            case.headers = {}
        for name in list(case.headers):
            if name.lower() == "x-share-key":
                del case.headers[name]
        case.headers["X-Share-Key"] = created["data"]["shareKey"]


def _litellm_key(tenant: str) -> None:
    """A LiteLLM key aliased `tenant/<tenant>` in the stand-in, made with
    LiteLLM's own admin API (as an operator seeds keys) when there is none."""
    litellm = _FIXTURES["litellm"]
    auth = {"Authorization": f"Bearer {litellm['masterKey']}", "Content-Type": "application/json"}
    alias = f"tenant/{tenant}"
    status, listed, _ = _request(
        f"{litellm['url']}/key/list?key_alias={urllib.parse.quote(alias, safe='')}", headers=auth)
    if status == 200 and json.loads(listed).get("keys"):
        return
    _request(f"{litellm['url']}/key/generate", "POST", json.dumps({"key_alias": alias}).encode(), auth)


@schemathesis.hook
def after_call(context, case, response):
    """Organisations the owner created in this run (followed by links, see
    `before_load_schema`) stay as they are in positive requests; members the
    fuzzer removed are remembered, so `_member` does not bring them back."""
    if _ROLE != "owner":
        return
    op = (case.operation.method.upper(), case.operation.path)
    if op == ("POST", "/api/v1/organizations") and response.status_code == 201:
        try:
            _STATE.setdefault("orgs", set()).add(response.json()["data"]["id"])
        except (ValueError, KeyError, TypeError):
            pass
    elif op == ("DELETE", "/api/v1/organizations/{orgId}/members/{userId}") \
            and response.status_code == 204:
        user = (case.path_parameters or {}).get("userId")
        removed = _STATE.setdefault("removedMembers", [])
        if user in removed:
            removed.remove(user)
        removed.append(user)



@schemathesis.hook
def before_load_schema(context, raw_schema):
    """Links the document does not declare (27), from the responses that
    make a user or an organisation to what a client does next with them."""
    paths = raw_schema.get("paths", {})

    def add(path: str, method: str, status: str, links: dict) -> None:
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if isinstance(response, dict):
            response.setdefault("links", {}).update(links)

    org = {"path.orgId": "$response.body#/data/id"}
    add("/api/v1/organizations", "post", "201", {
        f"{op[0].upper()}{op[1:]}OfNewOrganization": {"operationId": op, "parameters": org}
        for op in ("getOrganization", "listOrgMembers", "listOrgEvents", "listOrgInvitations",
                   "createOrgInvitation", "listOrganizationTenants", "createOrganizationTenant")
    })
    session = {"header.Authorization": "Bearer {$response.body#/data/accessToken}"}
    add("/api/v1/auth/signup", "post", "201", {
        "LogInAfterSignUp": {"operationId": "logIn", "requestBody": {
            "email": "$request.body#/email", "password": "$request.body#/password"}},
        "GetMeAfterSignUp": {"operationId": "getMe", "parameters": session},
        "CreateOrganizationAfterSignUp": {"operationId": "createOrganization", "parameters": session},
        "CreateApiKeyAfterSignUp": {"operationId": "createApiKey", "parameters": session},
        "SetUpMfaAfterSignUp": {"operationId": "setUpMfa", "parameters": session},
        "ChangePasswordAfterSignUp": {"operationId": "changePassword", "parameters": session,
                                      "requestBody": {"currentPassword": "$request.body#/password"}},
        "LogOutAfterSignUp": {"operationId": "logOut", "parameters": session},
        "RefreshAfterSignUp": {"operationId": "refreshSession", "requestBody": {
            "refreshToken": "$response.body#/data/refreshToken"}},
        "DeleteMeAfterSignUp": {"operationId": "deleteMe", "parameters": session},
        "SetAccountBudgetAfterSignUp": {"operationId": "setAccountBudget",
                                        "parameters": {"path.userId": "$response.body#/data/user/id"}},
    })


