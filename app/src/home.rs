use leptos::prelude::*;
use leptos_meta::Title;

use crate::session::use_session;

/// The landing page: what Banter is, and the way in.
#[component]
pub fn HomePage() -> impl IntoView {
    let session = use_session();
    view! {
        <Title text="" />
        <section class="hero">
            <h1>"Banter"</h1>
            <p class="tagline">
                "Team chat you run yourself: one binary, one database, no lost messages."
            </p>
            <Transition fallback=|| ()>
                {move || {
                    session
                        .user
                        .get()
                        .map(|_| match session.current_user() {
                            Some(user) => {
                                view! {
                                    <p class="welcome">"Welcome, " {user.username} "."</p>
                                    <p class="cta">
                                        <a class="button primary" href="/r/general">
                                            "Open #general"
                                        </a>
                                    </p>
                                }
                                    .into_any()
                            }
                            None => {
                                view! {
                                    <p class="cta">
                                        <a class="button primary" href="/register">
                                            "Create an account"
                                        </a>
                                        <a class="button" href="/login">
                                            "Log in"
                                        </a>
                                    </p>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}
