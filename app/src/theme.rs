use leptos::prelude::*;

const STORAGE_KEY: &str = "banter.theme";

/// The colour scheme a person picked; `System` follows `prefers-color-scheme`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

impl Theme {
    /// The order the switch cycles through.
    pub fn next(self) -> Self {
        match self {
            Theme::System => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Dark => Theme::System,
        }
    }

    /// The value stored in `localStorage` and set as `<html data-theme>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Theme::System, Theme::Light, Theme::Dark]
            .into_iter()
            .find(|theme| theme.as_str() == value)
    }

    pub fn label(self) -> &'static str {
        match self {
            Theme::System => "Theme: system",
            Theme::Light => "Theme: light",
            Theme::Dark => "Theme: dark",
        }
    }
}

fn saved_theme() -> Option<Theme> {
    let storage = window().local_storage().ok().flatten()?;
    let value = storage.get_item(STORAGE_KEY).ok().flatten()?;
    Theme::parse(&value)
}

fn save_theme(theme: Theme) {
    if let Some(storage) = window().local_storage().ok().flatten() {
        // A full or disabled storage only means the choice is not remembered.
        let _ = storage.set_item(STORAGE_KEY, theme.as_str());
    }
}

fn apply_theme(theme: Theme) {
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute("data-theme", theme.as_str());
    }
}

/// A button that cycles system → light → dark and remembers the choice in this browser.
///
/// It only acts once the wasm has hydrated the page; the server renders the
/// "system" label, which is also what a browser without JavaScript gets.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = RwSignal::new(Theme::System);
    // Effects run in the browser only, so storage is never touched during SSR.
    Effect::new(move |_| {
        if let Some(saved) = saved_theme() {
            theme.set(saved);
        }
    });
    Effect::new(move |_| apply_theme(theme.get()));

    let cycle = move |_| {
        let next = theme.get_untracked().next();
        theme.set(next);
        save_theme(next);
    };

    view! {
        <button
            type="button"
            class="theme-toggle"
            title="Switch between the system, light and dark colour schemes"
            on:click=cycle
        >
            {move || theme.get().label()}
        </button>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_through_every_theme_and_back() {
        let mut seen = vec![Theme::System];
        let mut theme = Theme::System.next();
        while theme != Theme::System {
            seen.push(theme);
            theme = theme.next();
        }
        assert_eq!(seen, [Theme::System, Theme::Light, Theme::Dark]);
    }

    #[test]
    fn stored_value_round_trips() {
        for theme in [Theme::System, Theme::Light, Theme::Dark] {
            assert_eq!(Theme::parse(theme.as_str()), Some(theme));
        }
        assert_eq!(Theme::parse("purple"), None);
        assert_eq!(Theme::parse(""), None);
    }
}
