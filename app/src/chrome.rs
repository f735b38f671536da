use leptos::prelude::*;

use crate::{session::use_session, theme::ThemeToggle};

/// The bar across the top of every page: brand, who is logged in, theme switch.
#[component]
pub fn Header() -> impl IntoView {
    let session = use_session();
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="app-header">
            <a class="brand" href="/">
                <img src="/favicon.svg" alt="" width="24" height="24" />
                <span>"Banter"</span>
            </a>
            <nav class="header-actions" aria-label="Account and settings">
                <Transition fallback=|| ()>
                    {move || {
                        session
                            .user
                            .get()
                            .map(|_| match session.current_user() {
                                Some(user) => {
                                    view! {
                                        {user
                                            .admin
                                            .then(|| view! { <a href="/admin">"Admin"</a> <span aria-hidden="true">"·"</span> })}
                                        <span class="whoami">
                                            "Logged in as " <strong>{user.username}</strong>
                                        </span>
                                        <span aria-hidden="true">"·"</span>
                                        <ActionForm action=session.logout attr:class="inline-form">
                                            <button type="submit" class="link-button">
                                                "Log out"
                                            </button>
                                        </ActionForm>
                                    }
                                        .into_any()
                                }
                                None => {
                                    view! {
                                        <a href="/login">"Log in"</a>
                                        <a href="/register">"Register"</a>
                                    }
                                        .into_any()
                                }
                            })
                    }}
                </Transition>
                <ThemeToggle />
            </nav>
        </header>
    }
}
