//! Form fields that several forms ask for, written once so that they behave alike.

use leptos::prelude::*;

/// A field for a username (or several, comma-separated). Usernames are lowercase
/// ASCII, so phones must neither capitalise nor spell-check them, and every form that
/// asks for one needs it. The form's `<label for=id>` stays with the form; what else
/// differs is passed as props, or as attributes and handlers (`on:input=…`, `prop:value=…`,
/// or plain ones after `{..}`) that go onto the `<input>`.
#[component]
pub fn UsernameInput(
    /// The id that the form's label names.
    id: &'static str,
    /// The form field it posts; none where code reads it.
    #[prop(optional)]
    name: Option<&'static str>,
    /// A `<datalist>` of suggestions.
    #[prop(optional)]
    list: Option<&'static str>,
    /// What the browser may fill in (`username` on the account pages).
    #[prop(optional)]
    autocomplete: Option<&'static str>,
    #[prop(optional)] placeholder: Option<&'static str>,
) -> impl IntoView {
    view! {
        <input
            id=id
            name=name
            list=list
            autocomplete=autocomplete
            placeholder=placeholder
            autocapitalize="none"
            spellcheck="false"
            required
        />
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_carries_what_each_form_gives_and_nothing_empty() {
        let owner = Owner::new();
        owner.set();
        let login =
            view! { <UsernameInput id="login-username" name="username" autocomplete="username" /> };
        assert_eq!(
            login.to_html(),
            r#"<input id="login-username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required>"#
        );
        let who = RwSignal::new(String::new());
        let invite = view! {
            <UsernameInput
                id="invite-name"
                placeholder="username"
                prop:value=move || who.get()
                {..}
                maxlength="32"
            />
        };
        assert_eq!(
            invite.to_html(),
            r#"<input id="invite-name" placeholder="username" autocapitalize="none" spellcheck="false" required maxlength="32">"#
        );
    }
}
