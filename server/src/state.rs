use std::sync::Arc;

use app::services::Services;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::{accounts::Accounts, chat::Chat, db::Db};

/// What every handler and server function can reach. Cheap to clone: each field is a
/// handle onto shared state.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub accounts: Arc<Accounts>,
    pub chat: Arc<Chat>,
    pub secure_cookies: bool,
    /// How long a WebSocket may take none of what is written to it before it is closed.
    pub write_deadline: std::time::Duration,
}

impl AppState {
    /// The context the server functions in `app` are given.
    pub fn services(&self) -> Services {
        Services {
            accounts: self.accounts.clone(),
            rooms: self.chat.clone(),
            secure_cookies: self.secure_cookies,
        }
    }
}
