//! The one place an operation is declared.
//!
//! `#[operation(...)]` on a handler states everything about the operation:
//! its method and path, its operation id (also the audit action), who may
//! call it, the scope area and audit kind where they differ from the
//! defaults, whether it shows a secret once, and its OpenAPI documentation
//! (every other argument is `#[utoipa::path]`'s). `route_group!` lists a
//! group's handlers once; the route table, the dispatch, the audit kinds and
//! the group's OpenAPI paths are derived from that list and the
//! declarations. A handler that is declared but not listed is dead code,
//! which the build refuses (`-D warnings`), and an operation without a
//! `callers` rule does not compile.
//!
//! ```ignore
//! #[operation(get, "/api/v1/tenants/{name}", id = "getTenant", callers = users,
//!     tag = "tenants", summary = "Read one tenant",
//!     params(TenantPath), responses((status = 200, body = Envelope<Tenant>)))]
//! async fn get_tenant<P: Platform>(
//!     ctx: &RequestContext<'_, P>,
//!     req: &ApiRequest,
//!     params: &PathParams,
//! ) -> Result<ApiResponse, Failure> { ... }
//!
//! route_group! {
//!     /// The tenants route group.
//!     pub struct Tenants;
//!     kind = "tenant";
//!     openapi(tags((name = "tenants", description = "...")));
//!     operations = [list_tenants, get_tenant, orgs::list_organization_tenants];
//! }
//! ```
//!
//! `callers` is one of `public` (no credentials; documented with an empty
//! security requirement; an authenticated operation whose credential is not
//! the bearer token says which with `security(...)`), `operator` (the operator and access tokens with
//! the scope), `users` (also signed-in users, whose organisation role the
//! handler checks), `agents` (users, and also agents: their vaults, own
//! profile and own transactions) and `gateway_keys` (also tenant gateway
//! keys).

#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens, TokenTree};
use quote::{format_ident, quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Error, Ident, ItemFn, LitStr, Path, Token, Visibility};

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];
const CALLERS: &[(&str, &str)] = &[
    ("public", "Public"),
    ("operator", "Operator"),
    ("users", "Users"),
    ("gateway_keys", "GatewayKeys"),
    ("agents", "Agents"),
];

/// Declares an operation on its handler (see the crate documentation).
#[proc_macro_attribute]
pub fn operation(attr: TokenStream, item: TokenStream) -> TokenStream {
    match expand_operation(attr.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Splits a token stream at its top-level commas.
fn segments(tokens: Tokens) -> Vec<Vec<TokenTree>> {
    let mut out = vec![Vec::new()];
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => out.push(Vec::new()),
            _ => out.last_mut().map_or((), |s| s.push(tt)),
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

fn span_of(segment: &[TokenTree]) -> Span {
    segment
        .first()
        .map_or_else(Span::call_site, TokenTree::span)
}

/// `key = value` → (key, value tokens); a lone identifier → (it, empty).
fn key_value(segment: &[TokenTree]) -> Option<(String, Tokens)> {
    match segment {
        [TokenTree::Ident(key)] => Some((key.to_string(), Tokens::new())),
        [TokenTree::Ident(key), TokenTree::Punct(eq), rest @ ..]
            if eq.as_char() == '=' && !rest.is_empty() =>
        {
            Some((key.to_string(), rest.iter().cloned().collect()))
        }
        _ => None,
    }
}

fn expand_operation(attr: Tokens, item: Tokens) -> syn::Result<Tokens> {
    let handler: ItemFn = syn::parse2(item)?;
    let segs = segments(attr);
    let mut it = segs.into_iter();
    let usage = "expected #[operation(<method>, \"<path>\", id = \"<operationId>\", callers = <public|operator|users|agents|gateway_keys>, ...)]";
    let method_seg = it
        .next()
        .ok_or_else(|| Error::new(Span::call_site(), usage))?;
    let method = match method_seg.as_slice() {
        [TokenTree::Ident(m)] if METHODS.contains(&m.to_string().as_str()) => m.clone(),
        other => return Err(Error::new(span_of(other), usage)),
    };
    let path: Tokens = it
        .next()
        .ok_or_else(|| Error::new(method.span(), usage))?
        .into_iter()
        .collect();

    let mut id: Option<LitStr> = None;
    let mut callers: Option<(Ident, &str)> = None;
    let mut kind: Option<Tokens> = None;
    let mut area: Option<Tokens> = None;
    let mut shows_secret = false;
    let mut security: Option<Span> = None;
    let mut rest: Vec<Tokens> = Vec::new();
    for seg in it {
        let span = span_of(&seg);
        match key_value(&seg) {
            Some((k, v)) if k == "id" => id = Some(syn::parse2(v)?),
            Some((k, v)) if k == "callers" => {
                let ident: Ident = syn::parse2(v)?;
                let variant = CALLERS
                    .iter()
                    .find(|(name, _)| ident == name)
                    .map(|(_, variant)| *variant)
                    .ok_or_else(|| {
                        Error::new(
                            ident.span(),
                            "callers is public, operator, users, agents or gateway_keys",
                        )
                    })?;
                callers = Some((ident, variant));
            }
            Some((k, v)) if k == "kind" => kind = Some(v),
            Some((k, v)) if k == "area" => area = Some(v),
            Some((k, v)) if k == "shows_secret" && v.is_empty() => shows_secret = true,
            Some((k, _)) if k == "path" || k == "operation_id" => {
                return Err(Error::new(
                    span,
                    "the path is the second argument and the operation id is `id`",
                ))
            }
            _ => {
                // `security(...)` names the credential an authenticated
                // operation takes when it is not the bearer token.
                if matches!(seg.first(), Some(TokenTree::Ident(i)) if i == "security") {
                    security = Some(span);
                }
                rest.push(seg.into_iter().collect());
            }
        }
    }
    let id = id.ok_or_else(|| Error::new(method.span(), "missing `id = \"<operationId>\"`"))?;
    let (_, callers) = callers.ok_or_else(|| {
        Error::new(
            method.span(),
            "missing `callers = <public|operator|users|agents|gateway_keys>`: every operation states who may call it",
        )
    })?;
    let callers = format_ident!("{}", callers);
    if let (Some(span), true) = (security, callers == "Public") {
        return Err(Error::new(
            span,
            "a public operation takes no credentials: `callers = public` documents that",
        ));
    }
    let security = (callers == "Public").then(|| quote!(security(()),));
    if callers == "Public"
        && syn::parse2::<LitStr>(path.clone()).is_ok_and(|p| p.value().contains("...}"))
    {
        return Err(Error::new(
            method.span(),
            "a rest parameter ({name...}) is documented in `x-access`, which public operations \
             do not have",
        ));
    }
    // Who may call it and its scope area, for clients and for the
    // authorisation tests, which read them from the document. One extension
    // holding both: utoipa keeps extensions in a hash map, and the committed
    // document must come out byte-identical on every run.
    let extensions = (callers != "Public").then(|| {
        let who = CALLERS
            .iter()
            .find(|(_, variant)| callers == variant)
            .map_or("", |(name, _)| *name)
            .replace('_', "-");
        let declared = area
            .as_ref()
            .and_then(|a| syn::parse2::<LitStr>(a.clone()).ok())
            .map(|a| a.value());
        let from_path = syn::parse2::<LitStr>(path.clone()).ok().and_then(|p| {
            p.value()
                .strip_prefix("/api/v1/")
                .and_then(|rest| rest.split('/').next())
                .map(str::to_owned)
        });
        let scope_area = declared
            .or(from_path)
            .map_or_else(|| quote!(), |a| quote!(, "scopeArea": #a));
        // A rest parameter (`{path...}`) is documented as `{path}`; this
        // says that its value may span segments (clients and the spec
        // fuzzer's request accounting read it).
        let rest = syn::parse2::<LitStr>(path.clone())
            .ok()
            .and_then(|p| {
                p.value()
                    .rsplit('/')
                    .next()
                    .and_then(|last| last.strip_prefix('{'))
                    .and_then(|last| last.strip_suffix("...}"))
                    .map(str::to_owned)
            })
            .map_or_else(|| quote!(), |r| quote!(, "restParameter": #r));
        quote!(extensions(
            ("x-access" = json!({"callers": #who #scope_area #rest}))
        ),)
    });
    // A rest parameter `{name...}` is routed as such and documented as
    // `{name}` (`cp_http::router::openapi_path`).
    let doc_path = match syn::parse2::<LitStr>(path.clone()) {
        Ok(lit) if lit.value().contains("...}") => {
            let documented = LitStr::new(&lit.value().replace("...}", "}"), lit.span());
            quote!(#documented)
        }
        _ => path.clone(),
    };
    let method_upper = method.to_string().to_ascii_uppercase();
    let kind = kind.unwrap_or_else(|| quote!(""));
    let area = area.map_or_else(
        || quote!(::core::option::Option::None),
        |a| quote!(::core::option::Option::Some(#a)),
    );
    let route = format_ident!("__route_{}", handler.sig.ident);
    let doc = format!(
        "The declaration of `{}` (see `cp_macros::operation`).",
        id.value()
    );
    Ok(quote! {
        #[::utoipa::path(#method, path = #doc_path, operation_id = #id, #security #extensions #(#rest),*)]
        #handler

        #[doc = #doc]
        #[allow(non_upper_case_globals)]
        pub(crate) const #route: ::cp_http::Route<()> = ::cp_http::Route {
            method: #method_upper,
            pattern: #path,
            op: (),
            operation_id: #id,
            callers: ::cp_http::Callers::#callers,
            kind: #kind,
            area: #area,
            shows_secret: #shows_secret,
        };
    })
}

/// `route_group! { ... }` (see the crate documentation).
struct Group {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    kind: LitStr,
    openapi: Tokens,
    operations: Vec<Path>,
}

impl Parse for Group {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        input.parse::<Token![;]>()?;
        let mut kind = None;
        let mut openapi = Tokens::new();
        let mut operations = None;
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            if key == "kind" {
                input.parse::<Token![=]>()?;
                kind = Some(input.parse::<LitStr>()?);
            } else if key == "openapi" {
                let content;
                syn::parenthesized!(content in input);
                openapi = content.parse()?;
            } else if key == "operations" {
                input.parse::<Token![=]>()?;
                let content;
                syn::bracketed!(content in input);
                let list: Punctuated<Path, Token![,]> =
                    content.parse_terminated(Path::parse_mod_style, Token![,])?;
                operations = Some(list.into_iter().collect());
            } else {
                return Err(Error::new(
                    key.span(),
                    "expected kind, openapi or operations",
                ));
            }
            input.parse::<Token![;]>()?;
        }
        Ok(Group {
            attrs,
            vis,
            kind: kind.ok_or_else(|| {
                Error::new(
                    name.span(),
                    "missing `kind = \"...\";` (the audit kind of the group's resources)",
                )
            })?,
            name,
            openapi,
            operations: operations
                .ok_or_else(|| Error::new(Span::call_site(), "missing `operations = [...];`"))?,
        })
    }
}

/// Declares a route group from its operations (see the crate documentation).
#[proc_macro]
pub fn route_group(input: TokenStream) -> TokenStream {
    match syn::parse::<Group>(input) {
        Ok(group) => expand_group(group).into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn camel(snake: &str) -> String {
    snake
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn with_last(path: &Path, ident: Ident) -> Path {
    let mut p = path.clone();
    if let Some(last) = p.segments.last_mut() {
        last.ident = ident;
    }
    p
}

fn expand_group(g: Group) -> Tokens {
    let Group {
        attrs,
        vis,
        name,
        kind,
        openapi,
        operations,
    } = g;
    let op_enum = format_ident!("{}Op", name);
    let api = format_ident!("{}Api", name);
    let mut variants = Vec::new();
    let mut routes = Vec::new();
    let mut arms = Vec::new();
    for handler in &operations {
        let Some(last) = handler.segments.last() else {
            continue;
        };
        let fn_name = last.ident.to_string();
        // Every segment, so `users::log_out` and `session::log_out` differ.
        let full: Vec<String> = handler
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .filter(|s| s != "crate" && s != "self" && s != "super")
            .collect();
        let variant = format_ident!("{}", camel(&full.join("_")));
        let route = with_last(handler, format_ident!("__route_{}", fn_name));
        let doc = format!("`{}`", handler.to_token_stream());
        variants.push(quote!(#[doc = #doc] #variant));
        routes.push(quote!(#route.with_op(#op_enum::#variant).or_kind(#kind)));
        arms.push(quote!(#op_enum::#variant => #handler(ctx, req, params).await));
    }
    let op_doc = format!("The operations of [`{name}`], one per declared handler.");
    let api_doc = format!("The OpenAPI description of [`{name}`]: each operation's declaration.");
    let comma = (!openapi.is_empty()).then(|| quote!(,));
    quote! {
        #(#attrs)*
        #vis struct #name;

        #[doc = #op_doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #vis enum #op_enum {
            #(#variants),*
        }

        impl ::cp_platform::RouteGroup for #name {
            type Op = #op_enum;

            fn routes() -> &'static [::cp_http::Route<#op_enum>] {
                const ROUTES: &[::cp_http::Route<#op_enum>] = &[#(#routes),*];
                ROUTES
            }

            async fn handle<P: ::cp_platform::Platform>(
                op: #op_enum,
                ctx: &::cp_platform::RequestContext<'_, P>,
                req: &::cp_http::ApiRequest,
                params: &::cp_http::PathParams,
            ) -> ::core::result::Result<::cp_http::ApiResponse, ::cp_platform::Failure> {
                match op {
                    #(#arms),*
                }
            }
        }

        #[doc = #api_doc]
        #[derive(::utoipa::OpenApi)]
        #[openapi(paths(#(#operations),*) #comma #openapi)]
        #vis struct #api;
    }
}
