//! Why the chat said no: a code the WebSocket sends as is and the server functions
//! turn into an HTTP status, and a sentence for the person.

use app::{error::ApiError, protocol::ErrorCode};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidMessage, message)
    }

    /// The one answer for a room that does not exist (or, later, that the user may not
    /// see): the same words wherever it is given, so nothing tells the two apart.
    pub fn unknown_room(name: &str) -> Self {
        Self::new(
            ErrorCode::UnknownRoom,
            format!("There is no room named {name:?}."),
        )
    }

    pub fn unknown_message(seq: i64) -> Self {
        Self::new(
            ErrorCode::UnknownMessage,
            format!("There is no message {seq} in this room (or it was deleted)."),
        )
    }

    /// A server-side failure; the detail goes to the log, not to the client.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(
            ErrorCode::Internal,
            "The server could not do that; retrying with the same client_id is safe.",
        )
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal.code {
            ErrorCode::BadFrame | ErrorCode::InvalidMessage | ErrorCode::NotJoined => {
                ApiError::Invalid(refusal.message)
            }
            ErrorCode::UnknownRoom | ErrorCode::UnknownMessage => {
                ApiError::NotFound(refusal.message)
            }
            ErrorCode::Forbidden => ApiError::Forbidden(refusal.message),
            ErrorCode::RateLimited => ApiError::RateLimited(refusal.message),
            ErrorCode::Internal => ApiError::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_becomes_the_matching_http_error() {
        let status = |code| ApiError::from(Refusal::new(code, "why")).status();
        assert_eq!(status(ErrorCode::InvalidMessage), 400);
        assert_eq!(status(ErrorCode::UnknownRoom), 404);
        assert_eq!(status(ErrorCode::UnknownMessage), 404);
        assert_eq!(status(ErrorCode::Forbidden), 403);
        assert_eq!(status(ErrorCode::RateLimited), 429);
        assert_eq!(status(ErrorCode::Internal), 500);
    }
}
