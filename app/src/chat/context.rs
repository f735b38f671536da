//! What the parts of a room view (the list, each message, the composer) share: the
//! room's state, what the person is doing in the view, and the few actions that cross
//! them. A leaf, so that the parts depend on it and not on each other.

use leptos::{html, prelude::*};

use super::live::{Live, RoomState, ViewState};
use crate::rooms::history;

/// What the parts of a room view share, as context.
#[derive(Clone, Copy)]
pub struct RoomContext {
    name: StoredValue<String>,
    pub state: RoomState,
    pub view: ViewState,
    pub live: Live,
    /// The logged-in user's name.
    pub me: Signal<Option<String>>,
    /// True once the wasm runs: local times, and the controls that need it.
    pub hydrated: RwSignal<bool>,
    pub composer: NodeRef<html::Textarea>,
    loading_older: RwSignal<bool>,
}

impl RoomContext {
    /// The context of the room `name`, whose state `live` keeps.
    pub fn new(
        name: String,
        live: Live,
        me: Signal<Option<String>>,
        hydrated: RwSignal<bool>,
    ) -> Self {
        RoomContext {
            state: live.room(&name),
            view: live.view(&name),
            name: StoredValue::new(name),
            live,
            me,
            hydrated,
            composer: NodeRef::new(),
            loading_older: RwSignal::new(false),
        }
    }

    pub fn name(&self) -> String {
        self.name.get_value()
    }

    /// Whether an older page is on its way.
    pub fn loading_older(&self) -> bool {
        self.loading_older.get()
    }

    /// Loads the page of history before the oldest message shown; false when there
    /// was nothing to load or it failed.
    pub async fn load_older(self) -> bool {
        self.load_older_by(None).await
    }

    /// [`RoomContext::load_older`] with pages of `limit` messages (the server's default
    /// without).
    async fn load_older_by(self, limit: Option<u32>) -> bool {
        // `try_`: a jump goes on loading after an await, when the room may be gone.
        if self.loading_older.try_get_untracked().unwrap_or(true) {
            return false;
        }
        let Some(first) = self.state.first_seq() else {
            return false;
        };
        self.loading_older.set(true);
        let older = history(self.name(), Some(first), limit).await;
        if let Ok(page) = &older {
            self.state.absorb(page, true);
        }
        self.loading_older.set(false);
        older.is_ok()
    }

    /// Shows message `seq`, loading older history until it is there, and highlights it.
    pub fn jump_to(self, seq: i64) {
        leptos::task::spawn_local(async move {
            while self.state.timeline.with_untracked(|t| t.get(seq).is_none())
                && self.state.has_more.get_untracked()
            {
                // The largest pages: a jump may go far back.
                if !self.load_older_by(Some(crate::rooms::HISTORY_MAX)).await {
                    break;
                }
            }
            // After the next render, when the message is in the page.
            request_animation_frame(move || {
                #[cfg(feature = "hydrate")]
                if let Some(element) = document().get_element_by_id(&format!("m-{seq}")) {
                    use wasm_bindgen::JsCast;
                    element.scroll_into_view();
                    if let Ok(element) = element.dyn_into::<web_sys::HtmlElement>() {
                        let _ = element.focus();
                    }
                }
            });
            self.view.flash.set(Some(seq));
            set_timeout(
                move || {
                    if self.view.flash.get_untracked() == Some(seq) {
                        self.view.flash.set(None);
                    }
                },
                std::time::Duration::from_secs(2),
            );
        });
    }

    /// Puts the cursor back in the composer (after an edit, a reply, a picker).
    pub fn focus_composer(&self) {
        if let Some(composer) = self.composer.get_untracked() {
            let _ = composer.focus();
        }
    }
}
