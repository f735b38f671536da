use std::net::SocketAddr;

use app::{accounts::ssr::ClientAddr, shell, App};
use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::{self, Next},
    response::Response,
    routing::get,
    Json, Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{file_and_error_handler, generate_route_list, LeptosRoutes};
use serde_json::{json, Value};
use tower_http::trace::TraceLayer;

use crate::{error::AppError, state::AppState};

/// The whole HTTP surface: health, server functions under `/api/`, the rendered pages,
/// and the built site's static files. Kept apart from serving so tests can drive it.
pub fn app(state: AppState) -> Router {
    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    let services = state.services();
    Router::new()
        .route("/healthz", get(healthz))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(services.clone()),
            move || shell(options.clone()),
        )
        .fallback(file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(client_addr))
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
