//! `/admin`: what a server admin does on the web: make single-use sign-up invitations
//! (for `--registration invite`) and ban accounts. Granting admin is done on the
//! command line (`server admin grant USER`).

use leptos::{prelude::*, task::spawn_local};
use leptos_meta::Title;

use crate::{
    accounts::{create_invite, Ban},
    session::{form_error, use_session},
};

#[component]
pub fn AdminPage() -> impl IntoView {
    let session = use_session();
    view! {
        <Title text="Admin" />
        <section class="finding">
            <h1>"Server admin"</h1>
            <Transition fallback=|| ()>
                {move || {
                    session
                        .user
                        .get()
                        .map(|user| match user {
                            Ok(Some(user)) if user.admin => view! { <AdminTools /> }.into_any(),
                            _ => view! { <p>"Only server admins can see this page."</p> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn AdminTools() -> impl IntoView {
    let ban = ServerAction::<Ban>::new();
    let ban_error = form_error(ban);
    let banned = move || {
        ban.value()
            .get()
            .is_some_and(|result| result.is_ok())
            .then_some("Banned: their sessions ended and their connections closed.")
    };
    let link = RwSignal::new(None::<Result<String, String>>);
    let invite = move |_| {
        spawn_local(async move {
            let made = create_invite().await.map_err(|e| e.to_string());
            let origin = window().location().origin().unwrap_or_default();
            link.set(Some(
                made.map(|invitation| format!("{origin}{}", invitation.path)),
            ));
        });
    };
    view! {
        <h2>"Invitations"</h2>
        <p>"A link signs one person up, within a week."</p>
        <button type="button" class="primary" on:click=invite>
            "Make an invitation link"
        </button>
        {move || {
            link.get()
                .map(|made| match made {
                    Ok(url) => view! { <p><code class="invite-link">{url}</code></p> }.into_any(),
                    Err(error) => view! { <p class="form-error" role="alert">{error}</p> }.into_any(),
                })
        }}
        <h2>"Ban an account"</h2>
        <ActionForm action=ban attr:class="stacked-form">
            <label for="ban-username">"Username"</label>
            <input id="ban-username" name="username" autocapitalize="none" spellcheck="false" required />
            <p class="form-error" role="alert">
                {move || ban_error.get()}
            </p>
            <p role="status">{banned}</p>
            <button type="submit" class="danger">
                "Ban"
            </button>
        </ActionForm>
    }
}
