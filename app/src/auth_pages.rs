use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    accounts::rules::{self, PASSWORD_MIN},
    fields::UsernameInput,
    session::{form_error, use_session},
};

/// The error of the last submission, in a live region so screen readers hear it.
#[component]
fn FormError(id: &'static str, message: Signal<Option<String>>) -> impl IntoView {
    view! {
        <p id=id class="form-error" role="alert">
            {move || message.get()}
        </p>
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = use_session().login;
    let error = form_error(action);
    view! {
        <Title text="Log in" />
        <section class="auth-card">
            <h1>"Log in to Banter"</h1>
            <ActionForm action=action attr:class="stacked-form">
                <label for="login-username">"Username"</label>
                <UsernameInput id="login-username" name="username" autocomplete="username" />
                <label for="login-password">"Password"</label>
                <input
                    id="login-password"
                    type="password"
                    name="password"
                    autocomplete="current-password"
                    required
                />
                <FormError id="login-error" message=error />
                <button type="submit" class="primary" disabled=move || action.pending().get()>
                    "Log in"
                </button>
            </ActionForm>
            <p class="auth-switch">"New here? " <a href="/register">"Create an account"</a></p>
        </section>
    }
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    let action = use_session().register;
    // `/register?invite=CODE`: an invitation from an admin.
    let invite = leptos_router::hooks::use_query_map()
        .get_untracked()
        .get("invite")
        .filter(|code| !code.is_empty());
    let error = form_error(action);
    // Live hints once the person has typed something; the server checks the same rules.
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let username_hint = move || {
        let value = username.get();
        if value.is_empty() {
            return None;
        }
        rules::normalize_username(&value).err()
    };
    let password_hint = move || {
        let value = password.get();
        if value.is_empty() {
            return None;
        }
        rules::check_password(&value).err()
    };

    view! {
        <Title text="Create an account" />
        <section class="auth-card">
            <h1>"Create your Banter account"</h1>
            <ActionForm action=action attr:class="stacked-form">
                {invite
                    .map(|code| {
                        view! {
                            <p class="field-hint">"You were invited: this link signs up one account."</p>
                            <input type="hidden" name="invite" value=code />
                        }
                    })}
                <label for="register-username">"Username"</label>
                <UsernameInput
                    id="register-username"
                    name="username"
                    autocomplete="username"
                    {..}
                    minlength="3"
                    maxlength="32"
                    pattern="[A-Za-z0-9_.\\-]{3,32}"
                    aria-describedby="register-username-rules"
                    aria-invalid=move || username_hint().is_some().to_string()
                    on:input=move |ev| username.set(event_target_value(&ev))
                />
                <p id="register-username-rules" class="field-hint" aria-live="polite">
                    {move || {
                        username_hint()
                            .unwrap_or_else(|| "3–32 of a-z, 0-9, _ . -".to_string())
                    }}
                </p>
                <label for="register-password">"Password"</label>
                <input
                    id="register-password"
                    type="password"
                    name="password"
                    autocomplete="new-password"
                    required
                    minlength=PASSWORD_MIN.to_string()
                    aria-describedby="register-password-rules"
                    aria-invalid=move || password_hint().is_some().to_string()
                    on:input=move |ev| password.set(event_target_value(&ev))
                />
                <p id="register-password-rules" class="field-hint" aria-live="polite">
                    {move || {
                        password_hint()
                            .unwrap_or_else(|| format!("At least {PASSWORD_MIN} characters."))
                    }}
                </p>
                <FormError id="register-error" message=error />
                <button type="submit" class="primary" disabled=move || action.pending().get()>
                    "Create account"
                </button>
            </ActionForm>
            <p class="auth-switch">"Already have an account? " <a href="/login">"Log in"</a></p>
        </section>
    }
}
