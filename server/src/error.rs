use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

/// The error of every plain axum route (health, WebSocket upgrade, …).
///
/// Server functions have their own error enum in `app`, shaped for the browser.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the database is unavailable")]
    DatabaseUnavailable(#[source] sqlx::Error),
    #[error("an internal error occurred")]
    Database(#[from] sqlx::Error),
    #[error("an internal error occurred")]
    Internal,
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    RateLimited(String),
}

/// Logs the detail of a server-side failure and gives the caller only the generic
/// [`app::error::ApiError::Internal`], which carries no SQL, paths or secrets.
pub fn internal(context: &str, error: impl std::fmt::Display) -> app::error::ApiError {
    tracing::error!(%error, "{context}");
    app::error::ApiError::Internal
}

impl AppError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            AppError::DatabaseUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Database(_) | AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if status.is_server_error() {
            // The detail goes to the log for the operator; the client only gets the
            // generic message, which never carries SQL, paths or secrets.
            tracing::error!(error = ?self, "request failed");
        }
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn server_errors_hide_their_detail() {
        let response =
            AppError::Database(sqlx::Error::Protocol("secret detail".into())).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("an internal error occurred"));
    }

    #[test]
    fn client_errors_map_to_their_status() {
        assert_eq!(
            AppError::Unauthorized.status_code(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            AppError::Forbidden("no".into()).status_code(),
            StatusCode::FORBIDDEN
        );
    }
}
