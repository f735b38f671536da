use std::net::SocketAddr;

use app::{error::ApiError, services::ClientAddr, shell, App};
use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler, generate_route_list, LeptosRoutes};
use serde_json::{json, Value};
use tower_http::{set_header::SetResponseHeaderLayer, trace::TraceLayer};

use crate::{error::AppError, state::AppState};

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
/// and the built site's static files. Kept apart from serving so tests can drive it.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let services = state.services();
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/ws", get(crate::ws::upgrade))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(services.clone()),
            move || shell(options.clone()),
        )
        .fallback(file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(api_error_status))
        .layer(middleware::from_fn(client_addr));
    SECURITY_HEADERS
        .iter()
        .fold(router, |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::if_not_present(
                name.clone(),
                header::HeaderValue::from_static(value),
            ))
        })
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Hands the peer address to the server functions (for per-address login throttling)
/// in a type that `app` knows.
async fn client_addr(mut request: Request, next: Next) -> Response {
    if let Some(ConnectInfo(addr)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    {
        request.extensions_mut().insert(ClientAddr(addr.ip()));
    }
    next.run(request).await
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
    state
        .db
        .ping()
        .await
        .map_err(AppError::DatabaseUnavailable)?;
    Ok(Json(json!({
        "status": "ok",
        "database": state.db.dialect().name(),
        "version": env!("CARGO_PKG_VERSION"),
    })))
}
