//! The Spin runtime adapter: Spin's request in, the pipeline, Spin's response
//! out; ports backed by Spin's outbound PostgreSQL, outbound HTTP and
//! variables.

use std::time::Duration;

use cp_http::outbound::{HttpTransport, OutboundRequest, OutboundResponse, TransportError};
use cp_http::{ApiRequest, Method};
use cp_store::spin::SpinDatabase;
use spin_sdk::http::{Request, Response};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    ErrorCode, Fields, IncomingBody, Method as WasiMethod, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};

use crate::auth::Authenticator;
use crate::{Platform, RouteGroup};

/// Ports of a request running in a Spin component.
pub struct SpinPlatform {
    db: SpinDatabase,
    http: SpinHttp,
}

impl SpinPlatform {
    /// Ports for the current request (database connected lazily).
    pub fn new() -> Self {
        let db_url = spin_sdk::variables::get("db_url").unwrap_or_default();
        Self {
            db: SpinDatabase::new(db_url),
            http: SpinHttp,
        }
    }
}

impl Default for SpinPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Platform for SpinPlatform {
    type Db = SpinDatabase;
    type Http = SpinHttp;

    fn db(&self) -> &SpinDatabase {
        &self.db
    }

    fn http(&self) -> &SpinHttp {
        &self.http
    }

    fn variable(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(name)
            .ok()
            .filter(|v| !v.is_empty())
    }
}

/// Serves a Spin HTTP request with route group `G`.
pub async fn serve<G: RouteGroup, A: Authenticator>(req: Request) -> Response {
    let method = Method::parse(&req.method().to_string());
    let path = req.path().to_owned();
    let query = req.query().to_owned();
    let headers = req
        .headers()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone().into_utf8_lossy()))
        .collect();
    let api_req = ApiRequest {
        method,
        path,
        query,
        headers,
        body: req.into_body(),
    };
    let platform = SpinPlatform::new();
    let resp = crate::serve::<G, A, _>(&platform, api_req).await;
    let mut builder = Response::builder();
    builder.status(resp.status);
    for (k, v) in resp.headers {
        builder.header(k, v);
    }
    builder.body(resp.body).build()
}

/// Outbound HTTP through `wasi:http/outgoing-handler`, with the request's
/// timeout passed to the host as connect, first-byte and between-bytes
/// limits. (spin-sdk's `send` takes no options, so a hung upstream would hang
/// the request.) A component serves one request, so blocking on the host's
/// pollables is the simplest correct way to wait.
pub struct SpinHttp;

impl HttpTransport for SpinHttp {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, TransportError> {
        send_blocking(request)
    }
}

fn connect_err(what: &str) -> TransportError {
    TransportError::Connect(what.to_owned())
}

fn send_blocking(req: OutboundRequest) -> Result<OutboundResponse, TransportError> {
    let (scheme, authority, path_and_query) = split_url(&req.url)?;
    let header_list: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    let fields =
        Fields::from_list(&header_list).map_err(|_| connect_err("invalid request header"))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match req.method {
        "GET" => WasiMethod::Get,
        "POST" => WasiMethod::Post,
        "PUT" => WasiMethod::Put,
        "PATCH" => WasiMethod::Patch,
        "DELETE" => WasiMethod::Delete,
        "HEAD" => WasiMethod::Head,
        other => WasiMethod::Other(other.to_owned()),
    };
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    let set = outgoing.set_method(&method).is_ok()
        && outgoing.set_scheme(Some(&scheme)).is_ok()
        && outgoing.set_authority(Some(authority)).is_ok()
        && outgoing.set_path_with_query(Some(path_and_query)).is_ok();
    if !set {
        return Err(connect_err("invalid request line"));
    }
    let body = outgoing
        .body()
        .map_err(|_| connect_err("request body unavailable"))?;

    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let options = RequestOptions::new();
    // Hosts may not support every option; the ones they accept apply.
    let _ = options.set_connect_timeout(Some(nanos(req.timeout)));
    let _ = options.set_first_byte_timeout(Some(nanos(req.timeout)));
    let _ = options.set_between_bytes_timeout(Some(nanos(req.timeout)));

    let pending = outgoing_handler::handle(outgoing, Some(options)).map_err(map_error_code)?;
    {
        let stream = body
            .write()
            .map_err(|_| connect_err("request body unavailable"))?;
        for chunk in req.body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|_| connect_err("writing the request body failed"))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(map_error_code)?;

    let incoming = loop {
        match pending.get() {
            Some(result) => break result,
            None => pending.subscribe().block(),
        }
    };
    let response = incoming
        .map_err(|_| connect_err("response already taken"))?
        .map_err(map_error_code)?;
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect();
    let incoming_body = response
        .consume()
        .map_err(|_| connect_err("response body unavailable"))?;
    let mut bytes = Vec::new();
    {
        let stream = incoming_body
            .stream()
            .map_err(|_| connect_err("response body unavailable"))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(wasi::io::streams::StreamError::Closed) => break,
                Err(wasi::io::streams::StreamError::LastOperationFailed(_)) => {
                    return Err(connect_err("reading the response body failed"))
                }
            }
        }
    }
    drop(IncomingBody::finish(incoming_body));
    Ok(OutboundResponse {
        status,
        headers,
        body: bytes,
    })
}

fn map_error_code(code: ErrorCode) -> TransportError {
    match code {
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => TransportError::Timeout,
        ErrorCode::HttpRequestDenied => {
            TransportError::Denied("destination not in allowed_outbound_hosts".into())
        }
        other => TransportError::Connect(format!("{other:?}")),
    }
}

/// Splits `scheme://authority/path?query`.
fn split_url(url: &str) -> Result<(&str, &str, &str), TransportError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| connect_err("URL without scheme"))?;
    let idx = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(idx);
    let path = if path.is_empty() { "/" } else { path };
    if authority.is_empty() {
        return Err(connect_err("URL without host"));
    }
    Ok((scheme, authority, path))
}
