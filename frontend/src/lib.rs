//! The wasm side of Banter. cargo-leptos builds this crate for `wasm32-unknown-unknown`
//! and the page served by `server/` calls [`hydrate`] once it has loaded.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
