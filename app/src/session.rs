use leptos::{prelude::*, server::ServerActionError};
use server_fn::{error::ServerFnUrlError, ServerFn};

use crate::{
    accounts::{me, Login, Logout, Register, User},
    error::ApiError,
};

/// The account actions and who is logged in, shared by every page.
///
/// The actions live here, above the routes, so that they outlive the page that
/// dispatched them (a successful log-in navigates away at once); the user is fetched
/// again whenever one of them completes.
#[derive(Clone, Copy)]
pub struct Session {
    pub login: ServerAction<Login>,
    pub register: ServerAction<Register>,
    pub logout: ServerAction<Logout>,
    pub user: Resource<Result<Option<User>, ApiError>>,
}

impl Session {
    pub fn provide() -> Session {
        let login = ServerAction::<Login>::new();
        let register = ServerAction::<Register>::new();
        let logout = ServerAction::<Logout>::new();
        let user = Resource::new(
            move || {
                (
                    login.version().get(),
                    register.version().get(),
                    logout.version().get(),
                )
            },
            |_| me(),
        );
        let session = Session {
            login,
            register,
            logout,
            user,
        };
        provide_context(session);
        session
    }

    /// The logged-in user, once known; `None` while loading, logged out or on error.
    pub fn current_user(&self) -> Option<User> {
        self.user.get().and_then(|result| result.ok().flatten())
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// The error of a plain (no-wasm) form post of `S`, passed back in the URL. Call it
/// inside the routes, where the router provides the URL's error.
pub fn url_error<S: ServerFn<Error = ApiError>>() -> Option<String> {
    use_context::<ServerActionError>()
        .filter(|error| error.path() == S::PATH)
        .map(|error| ServerFnUrlError::<ApiError>::decode_err(error.err()).to_string())
}

/// The error to show beside the form of `action`: that of its last submission in this
/// page, or else one passed back in the URL ([`url_error`]).
pub fn form_error<S>(action: ServerAction<S>) -> Signal<Option<String>>
where
    S: ServerFn<Error = ApiError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let from_url = url_error::<S>();
    Signal::derive(move || match action.value().get() {
        Some(result) => result.err().map(|error| error.to_string()),
        None => from_url.clone(),
    })
}
