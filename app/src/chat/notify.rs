//! Browser notifications and whether the tab is on screen. Nothing here asks for the
//! notification permission by itself: only [`enable`], called from a click on
//! "Enable notifications". On the server every answer is "no".

/// Where the person's choice is remembered in this browser.
#[cfg(feature = "hydrate")]
const OPT_IN_KEY: &str = "banter.notifications";

/// Whether notifications are on: the person opted in here and the browser allows them.
pub fn enabled() -> bool {
    #[cfg(feature = "hydrate")]
    {
        use web_sys::{Notification, NotificationPermission};
        let opted_in = leptos::prelude::window()
            .local_storage()
            .ok()
            .flatten()
            .and_then(|storage| storage.get_item(OPT_IN_KEY).ok().flatten())
            .is_some_and(|value| value == "on");
        opted_in && Notification::permission() == NotificationPermission::Granted
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

/// Whether this browser can show notifications at all.
pub fn supported() -> bool {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsValue;
        js_sys::Reflect::has(
            &leptos::prelude::window(),
            &JsValue::from_str("Notification"),
        )
        .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

/// Asks the browser for permission (it may show its prompt) and remembers the opt-in;
/// true when notifications are now on.
pub async fn enable() -> bool {
    #[cfg(feature = "hydrate")]
    {
        use web_sys::Notification;
        if let Ok(promise) = Notification::request_permission() {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        }
        if let Ok(Some(storage)) = leptos::prelude::window().local_storage() {
            let _ = storage.set_item(OPT_IN_KEY, "on");
        }
        enabled()
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

/// Turns notifications off here (the browser's permission stays as it is).
pub fn disable() {
    #[cfg(feature = "hydrate")]
    if let Ok(Some(storage)) = leptos::prelude::window().local_storage() {
        let _ = storage.remove_item(OPT_IN_KEY);
    }
}

/// Whether the tab is hidden (another tab, minimised): only then do messages notify.
pub fn tab_hidden() -> bool {
    #[cfg(feature = "hydrate")]
    {
        leptos::prelude::document().hidden()
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

/// Shows a notification; `tag` replaces an earlier one of the same conversation.
/// Clicking it brings the tab forward.
pub fn show(title: &str, body: &str, tag: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::{closure::Closure, JsCast};
        use web_sys::{Notification, NotificationOptions};
        let options = NotificationOptions::new();
        options.set_body(body);
        options.set_tag(tag);
        if let Ok(notification) = Notification::new_with_options(title, &options) {
            let focus = Closure::<dyn Fn()>::new(|| {
                let _ = leptos::prelude::window().focus();
            });
            notification.set_onclick(Some(focus.as_ref().unchecked_ref()));
            // Lives as long as the notification may be clicked.
            focus.forget();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (title, body, tag);
}
