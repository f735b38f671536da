use app::{error::ApiError, shell, App};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
    Json, Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler_with_context, generate_route_list, LeptosRoutes};
use serde_json::{json, Value};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

use crate::{client::Reach, error::AppError, files::http as files, origin, state::AppState};

/// How long `/healthz` waits for the database before answering 503.
const HEALTH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// Error bodies of server functions are a short JSON object; anything bigger is not one.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Sent with every response unless a handler set its own: no other site may frame our
/// pages (clickjacking), browsers must not guess a type other than the one sent, and
/// links out carry no path or query.
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
];

/// The whole HTTP surface: health, server functions under `/api/`, the rendered pages,
/// and the built site's static files: one router, whether served over plain TCP or TLS.
pub fn app(state: AppState, reach: Reach) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let services = state.services();
    let site_assets = state.bundle.site_assets();
    let public_origin = state.public_origin.as_deref().map(str::to_string);
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/ws", get(crate::ws::upgrade))
        // The request bodies are files: their own limits apply, not axum's 2 MB.
        .route(
            "/api/files",
            post(files::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/api/post_form",
            post(crate::files::form::post_form).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/files/{id}", delete(files::discard))
        .route("/files/{id}/{name}", get(files::download))
        .route("/thumbs/{id}", get(files::thumbnail))
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(services.clone());
                provide_context(site_assets.clone());
            },
            move || shell(options.clone()),
        )
        .fallback(static_file_or_not_found)
        .layer(middleware::from_fn(api_error_status))
        .layer(middleware::from_fn(move |request, next| {
            origin::guard_api(public_origin.clone(), request, next)
        }))
        .layer(middleware::from_fn(move |request, next| {
            crate::client::identify(reach.clone(), request, next)
        }));
    SECURITY_HEADERS
        .iter()
        .fold(router, |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::if_not_present(
                name.clone(),
                header::HeaderValue::from_static(value),
            ))
        })
        // Every log line of a request carries its id, which the response echoes in
        // `X-Request-Id` (a proxy's own id is kept), so a user's report finds its lines.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// A file of the built site, or else the not-found page.
async fn static_file_or_not_found(State(state): State<AppState>, request: Request) -> Response {
    let site_root = std::path::PathBuf::from(state.leptos_options.site_root.as_ref());
    let (parts, body) = request.into_parts();
    if let Some(response) = crate::assets::serve(&state.bundle, &site_root, &parts).await {
        return response;
    }
    let request = Request::from_parts(parts, body);
    let site_assets = state.bundle.site_assets();
    let not_found = file_and_error_handler_with_context::<AppState, _>(
        move || provide_context(site_assets.clone()),
        shell,
    );
    not_found(request.uri().clone(), State(state), request).await
}

/// The span of one request: its id, method and path (never the query, which could
/// carry something private).
fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|id| id.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        id,
        method = %request.method(),
        path = request.uri().path(),
    )
}

/// Server functions answer every error with 500; this gives an [`ApiError`] body its
/// own status (400 for bad input, 401, 409, 429, …) so that clients can tell a refusal
/// from a fault. Plain HTML form posts are unaffected: Leptos answers those with a
/// redirect that carries the error back to the form.
async fn api_error_status(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !is_api || response.status() != StatusCode::INTERNAL_SERVER_ERROR || !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ERROR_BODY).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "error body unreadable").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<ApiError>(&bytes) {
        parts.status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if parts.status == StatusCode::SERVICE_UNAVAILABLE {
            // Busy, not broken: the same request a second later should succeed.
            parts
                .headers
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Liveness and readiness in one: answers 200 only when the database answers too.
async fn healthz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    // A database that does not answer at all (a cut network) must not hold the check
    // for the pool's whole acquire timeout: load balancers give up sooner.
    tokio::time::timeout(HEALTH_DEADLINE, state.db.ping())
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut))
        .map_err(AppError::DatabaseUnavailable)?;
    Ok(Json(json!({
        "status": "ok",
        "database": state.db.dialect().name(),
        "version": env!("CARGO_PKG_VERSION"),
    })))
}
