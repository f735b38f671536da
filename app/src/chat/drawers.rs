//! The chat on a narrow screen (below 700 px): the room fills it, the room list and the
//! people are drawers opened from the room's header. Which one is open is this state;
//! the stylesheet does the rest. Without JavaScript the toggles are links to the
//! drawers' anchors (`#rooms`, `#people`), which the stylesheet opens with `:target`.

use leptos::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drawer {
    Rooms,
    People,
}

/// The open drawer, as context for the chat page.
#[derive(Clone, Copy)]
pub struct Drawers {
    pub open: RwSignal<Option<Drawer>>,
}

impl Drawers {
    pub fn provide() -> Drawers {
        let drawers = Drawers {
            open: RwSignal::new(None),
        };
        provide_context(drawers);
        #[cfg(feature = "hydrate")]
        {
            let handle = window_event_listener(leptos::ev::keydown, move |ev| {
                if ev.key() == "Escape" && drawers.open.get_untracked().is_some() {
                    drawers.close();
                }
            });
            on_cleanup(move || handle.remove());
        }
        drawers
    }

    pub fn toggle(&self, drawer: Drawer) {
        self.open
            .update(|open| *open = (*open != Some(drawer)).then_some(drawer));
    }

    pub fn close(&self) {
        self.open.set(None);
    }

    pub fn is_open(&self, drawer: Drawer) -> bool {
        self.open.get() == Some(drawer)
    }
}

/// The header's button for `drawer` (shown on narrow screens only), with `badge` beside
/// its label.
#[component]
pub fn DrawerToggle(
    drawer: Drawer,
    label: &'static str,
    #[prop(into)] badge: Signal<Option<String>>,
) -> impl IntoView {
    let drawers = expect_context::<Drawers>();
    let (href, controls) = match drawer {
        Drawer::Rooms => ("#rooms", "rooms"),
        Drawer::People => ("#people", "people"),
    };
    view! {
        <a
            class="drawer-toggle"
            href=href
            role="button"
            aria-controls=controls
            aria-expanded=move || drawers.is_open(drawer).to_string()
            on:click=move |ev| {
                ev.prevent_default();
                drawers.toggle(drawer);
            }
        >
            {label}
            {move || badge.get().map(|text| view! { <span class="unread">{text}</span> })}
        </a>
    }
}

/// What the Rooms button shows: unread messages elsewhere, and mentions apart.
pub fn badge(unread: i64, mentions: i64) -> Option<String> {
    match (unread, mentions) {
        (0, 0) => None,
        (unread, 0) => Some(unread.to_string()),
        (unread, mentions) => Some(format!("{unread} · @{mentions}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rooms_button_counts_what_waits_elsewhere() {
        assert_eq!(badge(0, 0), None);
        assert_eq!(badge(5, 0).as_deref(), Some("5"));
        assert_eq!(badge(5, 2).as_deref(), Some("5 · @2"));
    }
}
