use std::sync::Arc;

use app::services::Services;
use axum::extract::FromRef;
use leptos::prelude::LeptosOptions;

use crate::{accounts::Accounts, chat::Chat, db::Db, files::Files};

/// What every handler and server function can reach. Cheap to clone: each field is a
/// handle onto shared state.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub accounts: Arc<Accounts>,
    pub chat: Arc<Chat>,
    pub files: Arc<Files>,
    pub secure_cookies: bool,
    /// The socket caps and limits.
    pub ws: crate::ws::limits::SocketSettings,
    /// What `Origin` must be on cookie-authenticated requests, when configured.
    pub public_origin: Option<Arc<str>>,
    /// The built bundle's versioned names.
    pub bundle: Arc<crate::assets::Bundle>,
}

impl AppState {
    pub fn public_origin(&self) -> Option<&str> {
        self.public_origin.as_deref()
    }

    /// The context the server functions in `app` are given.
    pub fn services(&self) -> Services {
        Services {
            accounts: self.accounts.clone(),
            rooms: self.chat.clone(),
            files: self.files.clone(),
            secure_cookies: self.secure_cookies,
        }
    }
}
