//! The HTTP surface: server functions under `/api`, `/healthz`, and the Trunk `dist/`
//! with a fallback to `index.html` for client-side routes.

use app::api::AppError;
use app::ssr::AppState;
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::header::{COOKIE, HOST, ORIGIN, REFERER};
use axum::http::{HeaderName, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use leptos::prelude::provide_context;
use std::path::Path;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Server function answers larger than this are passed through without status mapping.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Builds the whole application router; tests call it with `oneshot`.
pub fn router(state: AppState, dist: &Path) -> Router {
    let index = ServeFile::new(dist.join("index.html"))
        .precompressed_br()
        .precompressed_gzip();
    let spa = tower::ServiceBuilder::new()
        .layer(middleware::from_fn(|req: Request, next: Next| async move {
            let path = req.uri().path().to_owned();
            crate::assets::cache_headers(&path, next.run(req).await)
        }))
        .service(
            ServeDir::new(dist)
                .precompressed_br()
                .precompressed_gzip()
                .fallback(index),
        );
    let headers = SecurityHeaders::new(dist, state.public_url.starts_with("https://"));
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/api/v1/events",
            post(crate::rest::post_events).get(crate::rest::get_events),
        )
        .route("/api/v1/events/export", get(crate::rest::export_events))
        .route("/api/v1/catalog", get(crate::rest::get_catalog))
        .route("/api/v1/catalog/types", post(crate::rest::post_catalog_type))
        .route(
            "/api/v1/catalog/types/{name}/retire",
            post(crate::rest::retire_catalog_type),
        )
        .route(
            "/api/v1/catalog/packs/{pack}",
            post(crate::rest::enable_pack).delete(crate::rest::disable_pack),
        )
        .route("/api/v1/openapi.json", get(crate::rest::openapi))
        .route("/api/v1/public-key", get(crate::rest::public_key))
        .route("/api/v1/verify/{token}", get(crate::rest::verification))
        .route("/api/v1/verify/{token}/checkpoint", get(crate::rest::note_checkpoint))
        .route("/api/v1/verify/{token}/inclusion", get(crate::rest::inclusion))
        .route("/api/v1/verify/{token}/consistency", get(crate::rest::consistency))
        .route(
            "/api/{*fn_name}",
            get(server_fn_get)
                .post(server_fn_handler)
                .layer(middleware::from_fn(same_origin_only)),
        )
        .fallback_service(spa)
        .with_state(state)
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(
                    |req: &Request| {
                        let request_id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id)
                    },
                ))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn(move |req: Request, next: Next| {
                    let headers = headers.clone();
                    async move { headers.apply(next.run(req).await) }
                })),
        )
}

/// The headers every response carries: a Content-Security-Policy the wasm app runs
/// under (its one inline loader script allowed by hash, read from `index.html`),
/// no sniffing, no framing, no cross-origin referrers, and HSTS over https.
#[derive(Clone)]
struct SecurityHeaders {
    csp: axum::http::HeaderValue,
    hsts: bool,
}

impl SecurityHeaders {
    fn new(dist: &Path, hsts: bool) -> Self {
        use base64::Engine;
        use sha2::Digest;
        let index = std::fs::read_to_string(dist.join("index.html")).unwrap_or_default();
        let mut hashes = String::new();
        let mut rest = index.as_str();
        while let Some(start) = rest.find("<script") {
            let after = &rest[start..];
            let Some(open_end) = after.find('>') else {
                break;
            };
            let body = &after[open_end + 1..];
            let Some(close) = body.find("</script>") else {
                break;
            };
            let script = &body[..close];
            if !script.trim().is_empty() {
                let digest = sha2::Sha256::digest(script.as_bytes());
                hashes.push_str(&format!(
                    " 'sha256-{}'",
                    base64::engine::general_purpose::STANDARD.encode(digest)
                ));
            }
            rest = &body[close..];
        }
        let csp = format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
             img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        SecurityHeaders {
            csp: axum::http::HeaderValue::from_str(&csp)
                .unwrap_or_else(|_| axum::http::HeaderValue::from_static("default-src 'self'")),
            hsts,
        }
    }

    fn apply(&self, mut response: Response) -> Response {
        use axum::http::header;
        use axum::http::HeaderValue;
        let h = response.headers_mut();
        h.insert(header::CONTENT_SECURITY_POLICY, self.csp.clone());
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        if self.hsts {
            h.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            );
        }
        response
    }
}

/// `scheme://host[:port]/…` → `host[:port]`.
fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Whether a request carries Stele's session cookie (in any `Cookie` header).
pub(crate) fn carries_session(headers: &axum::http::HeaderMap) -> bool {
    headers.get_all(COOKIE).iter().any(|c| {
        c.to_str()
            .is_ok_and(|c| c.contains(app::ssr::session::COOKIE_NAME))
    })
}

/// Whether a request was started by Stele's own pages (or typed into the address
/// bar): browsers say so in `Sec-Fetch-Site`, which no page can forge; without it,
/// a `Referer` from Stele's own host is required.
pub(crate) fn from_own_pages(headers: &axum::http::HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    match text("sec-fetch-site") {
        Some(site) => site == "same-origin" || site == "none",
        None => text(REFERER.as_str())
            .and_then(authority)
            .is_some_and(|a| Some(a) == text(HOST.as_str())),
    }
}

/// CSRF defence: a state-changing call must come from Stele's own origin. Browsers
/// send `Origin` (or at least `Referer`) on such calls; a call that carries the
/// session cookie but neither is refused too. Cookies are SameSite=Lax besides.
async fn same_origin_only(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    let host = text(HOST);
    let claimed = text(ORIGIN).or_else(|| text(REFERER)).map(authority);
    let allowed = match claimed {
        Some(origin) => origin.is_some() && origin == host,
        None => !carries_session(headers),
    };
    if allowed {
        next.run(req).await
    } else {
        tracing::warn!(?host, "refused a cross-origin state-changing request");
        let body = serde_json::to_string(&AppError::Forbidden(
            "forbidden: cross-origin request refused".to_owned(),
        ))
        .unwrap_or_default();
        (StatusCode::FORBIDDEN, body).into_response()
    }
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({ "status": "store unavailable" })),
            )
                .into_response()
        }
    }
}

fn json_error(status: StatusCode, error: AppError) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&error).unwrap_or_default(),
    )
        .into_response()
}

/// Server functions are called with POST only.
async fn server_fn_get() -> Response {
    let mut r = json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        AppError::BadRequest("method not allowed: call server functions with POST".to_owned()),
    );
    r.headers_mut().insert(
        axum::http::header::ALLOW,
        axum::http::HeaderValue::from_static("POST"),
    );
    r
}

async fn server_fn_handler(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if !server_fn::axum::server_fn_paths().any(|(p, _)| p == path) {
        return json_error(
            StatusCode::NOT_FOUND,
            AppError::NotFound(format!("there is no server function at {path}")),
        );
    }
    let response =
        leptos_axum::handle_server_fns_with_context(move || provide_context(state.clone()), req)
            .await
            .into_response();
    with_error_status(response).await
}

/// Server functions answer every error with 500; this gives each [`AppError`] its own
/// status (400, 401, 403, 404 …), in one place for every server function.
async fn with_error_status(response: Response) -> Response {
    let is_fn_error = response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && response
            .headers()
            .contains_key(server_fn::error::SERVER_FN_ERROR_HEADER);
    if !is_fn_error {
        // The framework's own refusals (a body it cannot read, …) carry developer
        // messages: log them, answer a plain JSON error.
        if response.status().is_client_error() || response.status().is_server_error() {
            let status = response.status();
            let bytes = to_bytes(response.into_body(), ERROR_BODY_LIMIT)
                .await
                .unwrap_or_default();
            tracing::warn!(%status, body = %String::from_utf8_lossy(&bytes), "server function refused a request");
            let error = if status.is_client_error() {
                AppError::BadRequest("the request could not be read".to_owned())
            } else {
                AppError::Internal
            };
            return json_error(status, error);
        }
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, ERROR_BODY_LIMIT).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, Body::from(bytes))
}
