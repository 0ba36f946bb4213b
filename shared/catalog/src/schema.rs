//! OpenAPI building blocks of the catalog: the exact patterns, lengths and
//! enums the validators in [`crate::model`] enforce, so the spec fuzzer's
//! schema-valid input is accepted and anything else is a 400.
//!
//! Where a rule depends on another field (an endpoint is a URL unless the
//! transport is `stdio`; a member name is an email for users; a static
//! credential carries exactly one of `secretRef`/`value`), the schema is a
//! `oneOf` of closed object shapes, one per case.

use cp_http::validate::{pattern_string, DNS_LABEL_PATTERN, EMAIL_PATTERN, TEXT_PATTERN};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType,
    Type,
};
use utoipa::openapi::RefOr;

/// An `http://` or `https://` URL (see [`crate::model::is_http_url`]): an
/// ASCII host name or IPv4 address (RFC 3986 reg-name characters; an
/// internationalised name in its `xn--` form; no user info, no IPv6
/// literal), an optional port, then a path, query or fragment without
/// spaces or control characters.
pub const URL_PATTERN: &str =
    "^https?://[A-Za-z0-9._~!$&'()*+,;=%-]+(:[0-9]{1,5})?([/?#][^\\x00-\\x20\\x7F-\\x9F]*)?$";
/// Longest URL.
pub const URL_MAX: usize = 2048;
/// A stdio command line: no control characters, not starting with a space.
pub const COMMAND_PATTERN: &str = "^[^\\x00-\\x20\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$";
/// Longest stdio command line.
pub const COMMAND_MAX: usize = 1024;
/// An awareness scope: 1-128 of `[a-z0-9._:/*-]`.
pub const SCOPE_PATTERN: &str = "^[a-z0-9._:/*-]{1,128}$";
/// A Kubernetes Secret name (DNS-1123 subdomain, at most 253).
pub const SECRET_NAME_PATTERN: &str =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A key inside a Kubernetes Secret (at most 253).
pub const SECRET_KEY_PATTERN: &str = "^[-._a-zA-Z0-9]+$";
/// Free text that is not empty (titles, display names).
pub const NONEMPTY_TEXT_PATTERN: &str = "^[^\\x00-\\x1F\\x7F-\\x9F]+$";

/// Longest description.
pub const DESCRIPTION_MAX: usize = 1000;
/// Longest display name / title.
pub const TITLE_MAX: usize = 200;
/// Longest external id.
pub const EXTERNAL_ID_MAX: usize = 256;
/// Longest inline credential value.
pub const VALUE_MAX: usize = 8192;

/// Most grants of an MCP server.
pub const MAX_GRANTS: usize = 200;
/// Most credentials in one request.
pub const MAX_CREDENTIALS: usize = 20;
/// Most members of a group.
pub const MAX_MEMBERS: usize = 1000;
/// Most awareness grants of a group.
pub const MAX_AWARENESS: usize = 200;
/// Most items of a third-party source.
pub const MAX_ITEMS: usize = 1000;

/// Third-party source types.
pub const SOURCE_TYPES: &[&str] = &[
    "github",
    "gitlab",
    "confluence",
    "jira",
    "notion",
    "slack",
    "gdrive",
    "sharepoint",
    "web",
];

pub(crate) fn enum_string(values: &[&str], description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .build()
}

pub(crate) fn dns_label(description: &str) -> Object {
    pattern_string(false, DNS_LABEL_PATTERN, 63, description)
}

pub(crate) fn description() -> Object {
    pattern_string(
        true,
        TEXT_PATTERN,
        DESCRIPTION_MAX,
        "Free text, at most 1000 characters, no control characters.",
    )
}

pub(crate) fn url(nullable: bool, description: &str) -> Object {
    pattern_string(nullable, URL_PATTERN, URL_MAX, description)
}

pub(crate) fn title(max: usize, description: &str) -> Object {
    let mut s = pattern_string(false, NONEMPTY_TEXT_PATTERN, max, description);
    s.min_length = Some(1);
    s
}

/// A closed object (`additionalProperties: false`).
pub(crate) fn closed(builder: ObjectBuilder) -> Object {
    builder
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .build()
}

/// An array with `maxItems` (and `uniqueItems` when the server refuses
/// duplicates).
pub(crate) fn array(
    item: impl Into<Schema>,
    max: usize,
    unique: bool,
    description: &str,
) -> Schema {
    Schema::Array(
        ArrayBuilder::new()
            .items(RefOr::T(item.into()))
            .max_items(Some(max))
            .unique_items(unique)
            .description(Some(description))
            .build(),
    )
}

/// `null` or the array.
pub(crate) fn nullable(inner: Schema) -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(inner)
            .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Null)))
            .build(),
    )
}

/// A grant of an MCP server (`kind` tenant or group, `name` a DNS label).
pub(crate) fn grant() -> Object {
    closed(
        ObjectBuilder::new()
            .property(
                "kind",
                enum_string(&["tenant", "group"], "`tenant` or `group`."),
            )
            .required("kind")
            .property(
                "name",
                dns_label("The group or tenant name: an existing group, or a live tenant (the grant is bound to it, not to the name)."),
            )
            .required("name"),
    )
}

/// A group member: a tenant (DNS label) or a user (email).
pub(crate) fn member() -> Schema {
    let tenant = closed(
        ObjectBuilder::new()
            .property("kind", enum_string(&["tenant"], "`tenant`."))
            .required("kind")
            .property(
                "name",
                dns_label(
                    "Name of a live tenant (the membership is bound to it, not to the name).",
                ),
            )
            .required("name"),
    );
    let user = closed(
        ObjectBuilder::new()
            .property("kind", enum_string(&["user"], "`user`."))
            .required("kind")
            .property(
                "name",
                pattern_string(false, EMAIL_PATTERN, 254, "The user's email address."),
            )
            .required("name"),
    );
    Schema::OneOf(OneOfBuilder::new().item(tenant).item(user).build())
}

/// An awareness grant.
pub(crate) fn awareness_grant() -> Object {
    closed(
        ObjectBuilder::new()
            .property(
                "scope",
                pattern_string(
                    false,
                    SCOPE_PATTERN,
                    128,
                    "What the group may be aware of: 1-128 of a-z, 0-9, '.', '_', ':', '/', '*', '-' (e.g. `datasets:sales-*`).",
                ),
            )
            .required("scope")
            .property("access", enum_string(&["read", "write"], "`read` or `write`."))
            .required("access"),
    )
}

fn secret_ref() -> Object {
    closed(
        ObjectBuilder::new()
            .property(
                "name",
                pattern_string(
                    false,
                    SECRET_NAME_PATTERN,
                    253,
                    "Name of the Kubernetes Secret (DNS-1123 subdomain).",
                ),
            )
            .required("name")
            .property(
                "key",
                pattern_string(
                    false,
                    SECRET_KEY_PATTERN,
                    253,
                    "Key inside the Secret (a-z, A-Z, 0-9, '-', '_', '.').",
                ),
            )
            .required("key"),
    )
}

/// A brokered credential to create: static with a Secret reference, static
/// with an inline value (encrypted at rest, never returned), or on-behalf-of.
pub(crate) fn credential_input() -> Schema {
    let display = || title(TITLE_MAX, "Display name (1-200 characters).");
    let by_ref = closed(
        ObjectBuilder::new()
            .description(Some("A static credential read from a Kubernetes Secret."))
            .property("displayName", display())
            .required("displayName")
            .property("brokeringMode", enum_string(&["static"], "`static`."))
            .required("brokeringMode")
            .property("secretRef", secret_ref())
            .required("secretRef"),
    );
    let mut value = ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .min_length(Some(1))
        .max_length(Some(VALUE_MAX))
        .description(Some(
            "The secret value: stored encrypted (AES-256-GCM), never returned; responses show at most its last four characters (`valueHint`).",
        ))
        .build();
    value.write_only = Some(true);
    let inline = closed(
        ObjectBuilder::new()
            .description(Some("A static credential with an inline value."))
            .property("displayName", display())
            .required("displayName")
            .property("brokeringMode", enum_string(&["static"], "`static`."))
            .required("brokeringMode")
            .property("value", value)
            .required("value"),
    );
    let obo = closed(
        ObjectBuilder::new()
            .description(Some("An on-behalf-of credential: the caller's own identity is exchanged; no secret is stored."))
            .property("displayName", display())
            .required("displayName")
            .property("brokeringMode", enum_string(&["obo"], "`obo`."))
            .required("brokeringMode"),
    );
    Schema::OneOf(
        OneOfBuilder::new()
            .item(by_ref)
            .item(inline)
            .item(obo)
            .build(),
    )
}

/// Stored credential metadata.
pub(crate) fn secret_ref_view() -> Object {
    let mut s = secret_ref();
    s.additional_properties = None;
    s.description = Some("The Kubernetes Secret reference, if any.".into());
    s
}

/// An MCP server to create or replace: one closed shape for `stdio`
/// (endpoint: a command line) and one for the HTTP transports (endpoint: a URL).
pub(crate) fn mcp_server_input() -> Schema {
    let shape = |transports: &[&str], endpoint: Object| {
        closed(
            ObjectBuilder::new()
                .property("name", dns_label("Unique name (DNS-1123 label)."))
                .required("name")
                .property(
                    "transport",
                    enum_string(
                        transports,
                        "Transport: `stdio`, `sse` or `streamable-http`.",
                    ),
                )
                .required("transport")
                .property("endpoint", endpoint)
                .required("endpoint")
                .property("description", description())
                .property(
                    "grants",
                    nullable(array(
                        grant(),
                        MAX_GRANTS,
                        true,
                        "Who may use the server (replaced as a whole on PUT).",
                    )),
                )
                .property(
                    "credentials",
                    nullable(array(
                        credential_input(),
                        MAX_CREDENTIALS,
                        false,
                        "Brokered credentials to create (on PUT they replace all existing ones).",
                    )),
                ),
        )
    };
    let stdio = shape(
        &["stdio"],
        pattern_string(
            false,
            COMMAND_PATTERN,
            COMMAND_MAX,
            "For `stdio`: the command line that starts the server (e.g. `npx -y @acme/mcp`).",
        ),
    );
    let http = shape(
        &["sse", "streamable-http"],
        url(
            false,
            "For `sse` and `streamable-http`: the server's http(s) URL.",
        ),
    );
    Schema::OneOf(
        OneOfBuilder::new()
            .item(stdio)
            .item(http)
            .description(Some(
                "An MCP server. `endpoint` is an http(s) URL for `sse` and `streamable-http`, a command line for `stdio`.",
            ))
            .build(),
    )
}

/// A group to create (`name` required) or replace (`name` optional and
/// immutable).
pub(crate) fn group_input(create: bool) -> Object {
    let mut b = ObjectBuilder::new().property(
        "name",
        dns_label(if create {
            "Unique name (DNS-1123 label); immutable."
        } else {
            "Immutable: if given, it must be the group's current name."
        }),
    );
    if create {
        b = b.required("name");
    }
    closed(
        b.property("description", description())
            .property(
                "members",
                nullable(array(
                    member(),
                    MAX_MEMBERS,
                    true,
                    "Tenants and users in the group (replaced as a whole on PUT).",
                )),
            )
            .property(
                "awarenessGrants",
                nullable(array(
                    awareness_grant(),
                    MAX_AWARENESS,
                    true,
                    "What members may be aware of; each scope once (replaced as a whole on PUT).",
                )),
            ),
    )
}

fn item_input() -> Object {
    closed(
        ObjectBuilder::new()
            .property(
                "externalId",
                title(
                    EXTERNAL_ID_MAX,
                    "The item's id in the source (1-256 characters, unique in the source).",
                ),
            )
            .required("externalId")
            .property("title", title(500, "Title (1-500 characters)."))
            .required("title")
            .property("url", url(true, "Link to the item (http/https).")),
    )
}

/// A third-party source to create or replace.
pub(crate) fn source_input() -> Object {
    closed(
        ObjectBuilder::new()
            .property("name", dns_label("Unique name (DNS-1123 label)."))
            .required("name")
            .property(
                "type",
                enum_string(SOURCE_TYPES, "What kind of system the source is."),
            )
            .required("type")
            .property("url", url(false, "The source's http(s) URL."))
            .required("url")
            .property("description", description())
            .property(
                "items",
                nullable(array(
                    item_input(),
                    MAX_ITEMS,
                    true,
                    "Linked items, each externalId once (replaced as a whole on PUT).",
                )),
            ),
    )
}
