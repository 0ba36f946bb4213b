//! Skill bundles as the API shows them, the requests that change them, their
//! validation, and the stage rules (which moves are promotions).

use cp_http::validate::{pattern_string, Validator, DNS_LABEL_PATTERN, TEXT_PATTERN};
use cp_http::{time, ApiError};
use cp_store::{DbError, FromRow, Row};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

/// Largest bundle content, in characters of the JSON string (256 KiB of
/// ASCII; the request body limit of 1 MiB bounds the bytes).
pub const MAX_CONTENT_CHARS: usize = 256 * 1024;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 1000;
/// Most entitlements of one bundle.
pub const MAX_ENTITLEMENTS: usize = 200;
/// Longest version: an OCI tag holds at most 128 characters.
pub const MAX_VERSION_CHARS: usize = 128;

/// OpenAPI pattern of a semantic version (semver.org 2.0.0, the official
/// regular expression with `[0-9]` for `\d`); see [`is_semver`].
pub const SEMVER_PATTERN: &str = concat!(
    "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)",
    "(-(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?",
    "(\\+[0-9a-zA-Z-]+(\\.[0-9a-zA-Z-]+)*)?$"
);

/// OpenAPI pattern of a content digest; see [`is_digest`].
pub const DIGEST_PATTERN: &str = "^sha256:[0-9a-f]{64}$";

/// The lifecycle stage of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Being written; not offered to anyone.
    Draft,
    /// Under test.
    Staging,
    /// Released: content and digest are immutable, the backfill pushes it.
    Published,
}

impl Stage {
    /// Every stage, in lifecycle order.
    pub const ALL: [Stage; 3] = [Stage::Draft, Stage::Staging, Stage::Published];

    /// The API and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Staging => "staging",
            Self::Published => "published",
        }
    }

    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The next stage forward, if any.
    fn next(self) -> Option<Self> {
        match self {
            Self::Draft => Some(Self::Staging),
            Self::Staging => Some(Self::Published),
            Self::Published => None,
        }
    }
}

/// What a stage change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// Same stage: nothing to record.
    Unchanged,
    /// One step forward (draft→staging, staging→published).
    Promotion,
    /// Back to draft from staging or published.
    Demotion,
}

/// Checks a stage change: forward one step at a time, or back to draft;
/// anything else is a conflict naming the current stage.
pub fn check_move(from: Stage, to: Stage) -> Result<Move, ApiError> {
    if from == to {
        Ok(Move::Unchanged)
    } else if from.next() == Some(to) {
        Ok(Move::Promotion)
    } else if to == Stage::Draft {
        Ok(Move::Demotion)
    } else {
        let allowed: Vec<&str> = from
            .next()
            .into_iter()
            .chain((from != Stage::Draft).then_some(Stage::Draft))
            .map(Stage::as_str)
            .collect();
        Err(ApiError::Conflict(format!(
            "the bundle is in stage '{}': it cannot move to '{}' (allowed: {})",
            from.as_str(),
            to.as_str(),
            allowed.join(", ")
        )))
    }
}

/// Who owns a bundle and at which level it is offered: the platform (every
/// tenant may be entitled), an organization, a team, or a single tenant.
/// Entitlements say who may actually use it.
pub const SCOPES: [&str; 4] = ["platform", "organization", "team", "tenant"];

/// Kinds of entitlement subject.
pub const SUBJECT_KINDS: [&str; 2] = ["tenant", "group"];

/// `sha256:` and the lowercase hex SHA-256 of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A digest as [`DIGEST_PATTERN`] accepts it.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn is_numeric_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

fn is_alnum_identifier(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A semantic version (what [`SEMVER_PATTERN`] accepts, at most
/// [`MAX_VERSION_CHARS`]): `MAJOR.MINOR.PATCH`, optional `-pre.release`
/// (numeric identifiers without leading zeros), optional `+build.meta`.
pub fn is_semver(s: &str) -> bool {
    if s.len() > MAX_VERSION_CHARS {
        return false;
    }
    let (rest, build) = match s.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (s, None),
    };
    if let Some(b) = build {
        if !b.split('.').all(is_alnum_identifier) {
            return false;
        }
    }
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| is_numeric_identifier(p)) {
        return false;
    }
    match pre {
        None => true,
        Some(p) => p.split('.').all(|id| {
            is_alnum_identifier(id)
                && (!id.bytes().all(|b| b.is_ascii_digit()) || is_numeric_identifier(id))
        }),
    }
}

/// The OCI tag of a version: semver build metadata's `+` is not allowed in
/// tags, so it becomes `_` (the convention Helm uses for charts).
pub fn oci_tag(version: &str) -> String {
    version.replace('+', "_")
}

// -- OpenAPI schemas -----------------------------------------------------------

fn enum_schema(values: &[&str], nullable: bool, description: &str) -> Object {
    let t = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    let mut vals: Vec<Option<&str>> = values.iter().copied().map(Some).collect();
    if nullable {
        vals.push(None);
    }
    ObjectBuilder::new()
        .schema_type(t)
        .enum_values(Some(vals))
        .description(Some(description))
        .build()
}

pub(crate) fn name_schema() -> Object {
    pattern_string(
        false,
        DNS_LABEL_PATTERN,
        63,
        "Bundle name: a DNS-1123 label (lowercase letters, digits, '-'; at most 63).",
    )
}

fn version_schema() -> Object {
    pattern_string(
        false,
        SEMVER_PATTERN,
        MAX_VERSION_CHARS,
        "Semantic version (semver 2.0.0), e.g. `1.2.0` or `2.0.0-rc.1+build.5`; at most 128 characters.",
    )
}

fn digest_schema() -> Object {
    pattern_string(
        false,
        DIGEST_PATTERN,
        71,
        "`sha256:` and 64 lowercase hex digits; when `content` is given it must be its SHA-256.",
    )
}

fn scope_schema() -> Object {
    enum_schema(
        &SCOPES,
        false,
        "Level the bundle is offered at: `platform`, `organization`, `team` or `tenant`.",
    )
}

fn stage_schema() -> Object {
    enum_schema(
        &["draft", "staging", "published"],
        false,
        "`draft`, `staging` or `published`.",
    )
}

fn stage_input_schema() -> Object {
    enum_schema(
        &["draft", "staging", "published"],
        true,
        "Create: the initial stage (default `draft`). Update: the wanted stage (absent or null: \
         unchanged); a change must be one step forward or back to `draft`, else 409.",
    )
}

fn description_schema() -> Object {
    pattern_string(
        true,
        TEXT_PATTERN,
        MAX_DESCRIPTION_CHARS,
        "Description (at most 1000 characters, no control characters).",
    )
}

fn content_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(MAX_CONTENT_CHARS))
        .description(Some(
            "The bundle's content (e.g. its SKILL.md), at most 262144 characters; `digest` must \
             be the SHA-256 of its UTF-8 bytes.",
        ))
        .build()
}

fn subject_kind_schema() -> Object {
    enum_schema(
        &SUBJECT_KINDS,
        false,
        "`tenant` or `group` (a group must exist; a tenant must be live, and the entitlement is bound to it, not to its name).",
    )
}

fn subject_name_schema() -> Object {
    pattern_string(
        false,
        DNS_LABEL_PATTERN,
        63,
        "Tenant or group name (DNS-1123 label).",
    )
}

fn entitlements_schema() -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(utoipa::openapi::RefOr::Ref(
            utoipa::openapi::Ref::from_schema_name("SkillEntitlement"),
        ))
        .max_items(Some(MAX_ENTITLEMENTS))
        .unique_items(true)
        .description(Some(
            "Who may use the bundle (at most 200, no duplicates); absent or null: none. Replaced \
             as a whole on update.",
        ))
}

// -- API types -------------------------------------------------------------

/// One subject entitled to use a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SkillEntitlement {
    /// `tenant` or `group`.
    #[schema(schema_with = subject_kind_schema)]
    pub kind: String,
    /// The tenant's or group's name.
    #[schema(schema_with = subject_name_schema)]
    pub name: String,
}

/// One recorded stage change (append-only history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillPromotion {
    /// The stage before (`null` for the creation).
    pub from: Option<String>,
    /// The stage after.
    pub to: String,
    /// Who made the change.
    pub actor: String,
    /// The request that made it.
    pub request_id: String,
    /// When (RFC 3339).
    pub at: String,
}

/// Another version of the same bundle name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillVersionRef {
    /// The version's bundle id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Its stage.
    #[schema(schema_with = stage_schema)]
    pub stage: String,
}

/// A skill bundle: one version of a named skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillBundle {
    /// Id (UUIDv7).
    pub id: String,
    /// Name (DNS-1123 label); (name, version) is unique.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// `platform`, `organization`, `team` or `tenant`.
    #[schema(schema_with = scope_schema)]
    pub scope: String,
    /// `draft`, `staging` or `published`.
    #[schema(schema_with = stage_schema)]
    pub stage: String,
    /// Description.
    pub description: Option<String>,
    /// Size of the content in bytes (`null`: no content stored).
    pub content_size: Option<i64>,
    /// The content (single reads only; absent when none is stored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Who may use it (a set: sorted by kind, then name).
    pub entitlements: Vec<SkillEntitlement>,
    /// Stage history, oldest first (append-only).
    pub promotions: Vec<SkillPromotion>,
    /// Every version of this name, this one included, oldest first, at most
    /// the 100 newest (single reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<SkillVersionRef>>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// Body of `POST /skills/catalog`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SkillBundleCreate {
    /// Name (DNS-1123 label).
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// Semantic version; (name, version) is unique.
    #[schema(schema_with = version_schema)]
    pub version: String,
    /// `sha256:<64 hex>`.
    #[schema(schema_with = digest_schema)]
    pub digest: String,
    /// `platform`, `organization`, `team` or `tenant`.
    #[schema(schema_with = scope_schema)]
    pub scope: String,
    /// Description.
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    /// Content (at most 262144 characters).
    #[serde(default)]
    #[schema(schema_with = content_schema)]
    pub content: Option<String>,
    /// Initial stage (default `draft`).
    #[serde(default)]
    #[schema(schema_with = stage_input_schema)]
    pub stage: Option<String>,
    /// Who may use it.
    #[serde(default)]
    #[schema(schema_with = entitlements_schema)]
    pub entitlements: Option<Vec<SkillEntitlement>>,
}

/// Body of `PUT /skills/catalog/{id}`: replaces every editable field and the
/// entitlements; `name` and `version` identify the bundle and never change
/// (publish a new version instead).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SkillBundleUpdate {
    /// `sha256:<64 hex>` (immutable once published).
    #[schema(schema_with = digest_schema)]
    pub digest: String,
    /// `platform`, `organization`, `team` or `tenant`.
    #[schema(schema_with = scope_schema)]
    pub scope: String,
    /// Description (absent or null: none).
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    /// Content (absent or null: none; immutable once published).
    #[serde(default)]
    #[schema(schema_with = content_schema)]
    pub content: Option<String>,
    /// Wanted stage (absent or null: unchanged).
    #[serde(default)]
    #[schema(schema_with = stage_input_schema)]
    pub stage: Option<String>,
    /// Who may use it (replaces the current set).
    #[serde(default)]
    #[schema(schema_with = entitlements_schema)]
    pub entitlements: Option<Vec<SkillEntitlement>>,
}

/// The editable fields, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidFields {
    pub(crate) digest: String,
    pub(crate) scope: String,
    pub(crate) description: Option<String>,
    pub(crate) content: Option<Vec<u8>>,
    pub(crate) stage: Option<Stage>,
    pub(crate) entitlements: Vec<SkillEntitlement>,
}

/// A create request, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValidCreate {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) fields: ValidFields,
}

fn validate_fields(
    v: &mut Validator,
    digest: String,
    scope: String,
    description: Option<String>,
    content: Option<String>,
    stage: Option<String>,
    entitlements: Option<Vec<SkillEntitlement>>,
) -> ValidFields {
    let digest_ok = is_digest(&digest);
    v.check(
        digest_ok,
        "digest",
        "must be sha256: followed by 64 lowercase hex digits",
    );
    v.check(
        SCOPES.contains(&scope.as_str()),
        "scope",
        "must be platform, organization, team or tenant",
    );
    v.text("description", description.as_deref(), MAX_DESCRIPTION_CHARS);
    if let Some(c) = &content {
        if c.chars().count() > MAX_CONTENT_CHARS {
            v.error(
                "content",
                format!("must be at most {MAX_CONTENT_CHARS} characters"),
            );
        } else if digest_ok && sha256_digest(c.as_bytes()) != digest {
            v.error(
                "digest",
                "does not match the content: it must be the SHA-256 of the content's UTF-8 bytes",
            );
        }
    }
    let stage = stage.and_then(|s| {
        let parsed = Stage::parse(&s);
        v.check(
            parsed.is_some(),
            "stage",
            "must be draft, staging or published",
        );
        parsed
    });
    let entitlements = entitlements.unwrap_or_default();
    v.check(
        entitlements.len() <= MAX_ENTITLEMENTS,
        "entitlements",
        format!("must have at most {MAX_ENTITLEMENTS} entries"),
    );
    for (i, e) in entitlements.iter().enumerate() {
        v.check(
            SUBJECT_KINDS.contains(&e.kind.as_str()),
            format!("entitlements[{i}].kind"),
            "must be tenant or group",
        );
        v.dns_label(&format!("entitlements[{i}].name"), &e.name);
        if entitlements[..i].contains(e) {
            v.error(format!("entitlements[{i}]"), "is a duplicate");
        }
    }
    ValidFields {
        digest,
        scope,
        description,
        content: content.map(String::into_bytes),
        stage,
        entitlements,
    }
}

impl SkillBundleCreate {
    /// Validates every field, naming each bad one.
    pub(crate) fn validate(self) -> Result<ValidCreate, ApiError> {
        let mut v = Validator::new();
        v.dns_label("name", &self.name);
        v.check(
            is_semver(&self.version),
            "version",
            "must be a semantic version such as 1.2.3 or 1.2.3-rc.1 (at most 128 characters)",
        );
        let fields = validate_fields(
            &mut v,
            self.digest,
            self.scope,
            self.description,
            self.content,
            self.stage,
            self.entitlements,
        );
        v.finish()?;
        Ok(ValidCreate {
            name: self.name,
            version: self.version,
            fields,
        })
    }
}

impl SkillBundleUpdate {
    /// Validates every field, naming each bad one.
    pub(crate) fn validate(self) -> Result<ValidFields, ApiError> {
        let mut v = Validator::new();
        let fields = validate_fields(
            &mut v,
            self.digest,
            self.scope,
            self.description,
            self.content,
            self.stage,
            self.entitlements,
        );
        v.finish()?;
        Ok(fields)
    }
}

/// A bundle row as stored (without entitlements and history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BundleRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) digest: String,
    pub(crate) scope: String,
    pub(crate) stage: Stage,
    pub(crate) description: Option<String>,
    pub(crate) content_size: Option<i64>,
    pub(crate) revision: i64,
    pub(crate) created_micros: i64,
    pub(crate) updated_micros: i64,
}

impl BundleRow {
    /// The ETag of this version of the bundle.
    pub(crate) fn etag(&self) -> String {
        cp_http::etag::for_version(&self.revision.to_string())
    }

    /// The API view, with what was loaded beside the row.
    pub(crate) fn view(
        &self,
        entitlements: Vec<SkillEntitlement>,
        promotions: Vec<SkillPromotion>,
    ) -> SkillBundle {
        SkillBundle {
            id: self.id.clone(),
            name: self.name.clone(),
            version: self.version.clone(),
            digest: self.digest.clone(),
            scope: self.scope.clone(),
            stage: self.stage.as_str().to_owned(),
            description: self.description.clone(),
            content_size: self.content_size,
            content: None,
            entitlements,
            promotions,
            versions: None,
            created_at: time::micros_rfc3339(self.created_micros),
            updated_at: time::micros_rfc3339(self.updated_micros),
        }
    }
}

/// Reads the columns of [`crate::sql::SELECT_COLUMNS`].
impl FromRow for BundleRow {
    fn from_row(r: &Row) -> Result<Self, DbError> {
        let stage = r.text("stage")?;
        Ok(Self {
            id: r.text("id")?,
            name: r.text("name")?,
            version: r.text("version")?,
            digest: r.text("digest")?,
            scope: r.text("scope")?,
            stage: Stage::parse(&stage)
                .ok_or_else(|| DbError::Decode(format!("unknown stage '{stage}'")))?,
            description: r.opt_text("description")?,
            content_size: r.opt_i64("content_size")?,
            revision: r.i64("revision")?,
            created_micros: r.i64("created_micros")?,
            updated_micros: r.i64("updated_micros")?,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stage_moves() {
        use Stage::*;
        assert_eq!(check_move(Draft, Draft).unwrap(), Move::Unchanged);
        assert_eq!(check_move(Draft, Staging).unwrap(), Move::Promotion);
        assert_eq!(check_move(Staging, Published).unwrap(), Move::Promotion);
        assert_eq!(check_move(Staging, Draft).unwrap(), Move::Demotion);
        assert_eq!(check_move(Published, Draft).unwrap(), Move::Demotion);
        for (from, to) in [(Draft, Published), (Published, Staging)] {
            let err = check_move(from, to).unwrap_err();
            assert_eq!(err.status(), 409);
            assert!(
                err.message().contains(&format!("'{}'", from.as_str())),
                "{}",
                err.message()
            );
        }
        assert!(check_move(Published, Staging)
            .unwrap_err()
            .message()
            .contains("allowed: draft"));
    }

    #[test]
    fn semver() {
        for ok in [
            "0.0.0",
            "1.2.3",
            "10.20.30",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-0.3.7",
            "1.0.0-x.7.z.92",
            "1.0.0-x-y-z.--",
            "1.0.0+20130313144700",
            "1.0.0-beta+exp.sha.5114f85",
            "1.0.0-0a",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.02.3",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3-a..b",
            "1.2.3+",
            "1.2.3+a+b",
            "v1.2.3",
            "1.2.3 ",
            "1.2.3-é",
            &format!("1.2.3-{}", "a".repeat(200)),
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
        assert_eq!(oci_tag("1.0.0-rc.1+build.5"), "1.0.0-rc.1_build.5");
    }

    #[test]
    fn digests() {
        let d = sha256_digest(b"hello");
        assert_eq!(
            d,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(is_digest(&d));
        assert!(!is_digest(&d.to_uppercase()));
        assert!(!is_digest("sha256:abc"));
        assert!(!is_digest(&d.replace("sha256", "sha512")));
    }

    fn create(content: Option<&str>, digest: &str) -> SkillBundleCreate {
        SkillBundleCreate {
            name: "search".into(),
            version: "1.0.0".into(),
            digest: digest.into(),
            scope: "platform".into(),
            description: None,
            content: content.map(str::to_owned),
            stage: None,
            entitlements: None,
        }
    }

    fn fields_of(err: ApiError) -> Vec<String> {
        err.field_errors().iter().map(|f| f.field.clone()).collect()
    }

    #[test]
    fn validation_names_fields() {
        let ok = create(Some("# Search"), &sha256_digest(b"# Search"))
            .validate()
            .unwrap();
        assert_eq!(ok.fields.content.as_deref(), Some(&b"# Search"[..]));
        assert_eq!(ok.fields.stage, None);

        let err = create(Some("# Search"), &sha256_digest(b"other"))
            .validate()
            .unwrap_err();
        assert_eq!(fields_of(err), ["digest"]);

        let mut bad = create(None, "sha256:nope");
        bad.name = "Bad_Name".into();
        bad.version = "1.0".into();
        bad.scope = "galaxy".into();
        bad.stage = Some("live".into());
        bad.entitlements = Some(vec![
            SkillEntitlement {
                kind: "tenant".into(),
                name: "acme".into(),
            },
            SkillEntitlement {
                kind: "user".into(),
                name: "x".into(),
            },
            SkillEntitlement {
                kind: "tenant".into(),
                name: "acme".into(),
            },
            SkillEntitlement {
                kind: "group".into(),
                name: "-x".into(),
            },
        ]);
        assert_eq!(
            fields_of(bad.validate().unwrap_err()),
            [
                "name",
                "version",
                "digest",
                "scope",
                "stage",
                "entitlements[1].kind",
                "entitlements[2]",
                "entitlements[3].name"
            ]
        );

        let big = "a".repeat(MAX_CONTENT_CHARS + 1);
        let err = create(Some(&big), &sha256_digest(big.as_bytes()))
            .validate()
            .unwrap_err();
        assert_eq!(fields_of(err), ["content"]);
    }
}
