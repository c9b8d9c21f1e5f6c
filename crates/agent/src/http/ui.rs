//! The web UI: its static files, embedded in the binary at build time from
//! `assets/ui/` and served at `/ui/` (with `/` and `/ui` redirecting there),
//! and the one read it needs that the rest of the API does not offer,
//! Consul's `GET /v1/internal/ui/services`. Every URL the UI uses is
//! relative, so it works behind a path prefix or an SSH tunnel. Routed only
//! when `ui` is on; never writes anything.

use std::sync::{Arc, LazyLock};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use praetor_server::read::ServiceSummaries;
use praetor_server::Answered;

use super::error::ApiError;
use super::extract::{Caller, Path};
use super::query::{self, read_headers, Params, ReadOpts};
use super::AppState;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../../assets/ui/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the UI; `index.html` is served at `/ui/`.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("login.js", JS),
    asset!("live.js", JS),
    asset!("dom.js", JS),
    asset!("diff.js", JS),
    asset!("validate.js", JS),
    asset!("views/overview.js", JS),
    asset!("views/services.js", JS),
    asset!("views/nodes.js", JS),
    asset!("views/kv.js", JS),
    asset!("views/sessions.js", JS),
    asset!("views/acl.js", JS),
    // js-yaml 4.1.0 (MIT, vendor/js-yaml.LICENSE), loaded only to validate YAML.
    asset!("vendor/js-yaml.mjs", JS),
    asset!("vendor/js-yaml.LICENSE", "text/plain; charset=utf-8"),
];

/// Each asset's entity tag: a hash of its bytes, so a browser revalidates
/// (`Cache-Control: no-cache`) and gets a 304 until the binary changes.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            // FNV-1a: stable, and enough to tell two builds' files apart.
            let h = a.body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
            format!("\"{h:016x}\"")
        })
        .collect()
});

/// What the UI's pages may load: only this origin (no inline scripts).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The UI's pages: `/`, `/ui`, `/ui/` and `/ui/<file>` (only when `ui` is on;
/// `/v1/internal/ui/services` is routed with the rest of the API).
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { redirect("ui/") }))
        .route("/ui", get(|| async { redirect("ui/") }))
        .route(
            "/ui/",
            get(|h: HeaderMap| async move { serve("index.html", &h) }),
        )
        .route(
            "/ui/{*file}",
            get(|Path(file): Path<String>, h: HeaderMap| async move { serve(&file, &h) }),
        )
}

/// A redirect to a relative location, so it stays under any path prefix
/// a proxy or tunnel adds.
fn redirect(to: &'static str) -> Response {
    (
        StatusCode::MOVED_PERMANENTLY,
        [(header::LOCATION, to)],
        format!("moved to {to}\n"),
    )
        .into_response()
}

/// The embedded file `name`, or a 404; a 304 when `If-None-Match` holds its
/// current entity tag.
fn serve(name: &str, req: &HeaderMap) -> Response {
    let Some((i, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no such file in the UI: {name}\n"),
        )
            .into_response();
    };
    let etag = &ETAGS[i];
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    (headers, asset.body).into_response()
}

/// `GET /v1/internal/ui/services`: every service with its tags, nodes,
/// instance count and check counts by status, as Consul's UI lists them; a
/// blocking query on the catalog.
///
/// # Errors
/// 400 on bad read options; 500 when no server can answer.
pub async fn services(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let opts = ReadOpts::from_params(&p, &state)?;
    let Answered {
        meta,
        index,
        answer: mut list,
        filtered,
    } = query::run(&state, &caller, &opts, ServiceSummaries).await?;
    // The datacenter that answered: `?dc=`'s, else this agent's.
    let dc = opts
        .dc
        .clone()
        .unwrap_or_else(|| state.config().datacenter.clone());
    for s in &mut list {
        s.datacenter.clone_from(&dc);
    }
    Ok((
        read_headers(&meta, index, filtered, opts.consistency),
        Json(list),
    )
        .into_response())
}
