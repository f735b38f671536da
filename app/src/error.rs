use serde::{Deserialize, Serialize};
use server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};

/// The error every server function returns, written for the person reading it.
///
/// On the wire it is JSON, e.g. `{"error":"conflict","message":"That username is taken."}`,
/// sent with the matching HTTP status (see [`ApiError::status`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", content = "message", rename_all = "snake_case")]
pub enum ApiError {
    /// The input breaks a rule; the message says which.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    /// An upload over a limit: the file's size, the uploader's quota, an image's pixels.
    #[error("{0}")]
    TooLarge(String),
    /// The server is at capacity for this kind of work right now; retry shortly.
    #[error("{0}")]
    Busy(String),
    /// Something failed on the server; the detail is in the server's log, not here.
    #[error("Something went wrong on the server. Please try again.")]
    Internal,
    /// The call itself failed: the network, or arguments the server could not read.
    #[error("{0}")]
    Request(String),
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Invalid(_) | ApiError::Request(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::Conflict(_) => 409,
            ApiError::TooLarge(_) => 413,
            ApiError::RateLimited(_) => 429,
            ApiError::Internal => 500,
            ApiError::Busy(_) => 503,
        }
    }

    /// The one answer to a failed log-in: it never says which part was wrong.
    pub fn wrong_credentials() -> Self {
        ApiError::Unauthorized("Wrong username or password.".into())
    }

    pub fn login_required() -> Self {
        ApiError::Unauthorized("Please log in first.".into())
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) => ApiError::Request(
                "Could not reach the server. Check your connection and try again.".into(),
            ),
            ServerFnErrorErr::Args(detail) | ServerFnErrorErr::MissingArg(detail) => {
                ApiError::Request(format!("The request was malformed: {detail}"))
            }
            other => ApiError::Request(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_a_tagged_message() {
        let json =
            serde_json::to_string(&ApiError::Conflict("That username is taken.".into())).unwrap();
        assert_eq!(
            json,
            r#"{"error":"conflict","message":"That username is taken."}"#
        );
        let internal = serde_json::to_string(&ApiError::Internal).unwrap();
        assert_eq!(internal, r#"{"error":"internal"}"#);
        assert_eq!(
            serde_json::from_str::<ApiError>(&json).unwrap(),
            ApiError::Conflict("That username is taken.".into())
        );
    }

    #[test]
    fn every_error_is_a_failure_status() {
        for error in [
            ApiError::Invalid(String::new()),
            ApiError::Unauthorized(String::new()),
            ApiError::Forbidden(String::new()),
            ApiError::NotFound(String::new()),
            ApiError::Conflict(String::new()),
            ApiError::RateLimited(String::new()),
            ApiError::Busy(String::new()),
            ApiError::Internal,
            ApiError::Request(String::new()),
        ] {
            assert!(error.status() >= 400, "{error:?}");
        }
    }
}
