//! Banter's shared crate: everything that both the server and the browser compile.
//!
//! The server depends on it with the `ssr` feature (rendering, server functions), the
//! wasm entry in `frontend/` with `hydrate`.

use leptos::{prelude::*, text_prop::TextProp};
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    ParamSegment, SsrMode, StaticSegment,
};

/// Accounts: shared types, rules, and the `register`/`login`/`logout`/`me` server functions.
pub mod accounts;
/// The server admin's page: invitations and bans.
pub mod admin;
/// The bundle's files as pages link them, and the page's Content-Security-Policy.
pub mod assets;
/// Files attached to messages: the wire type, their addresses, sizes as people read them.
pub mod attachments;
/// The log-in and registration pages.
pub mod auth_pages;
/// The chat: socket client, room state, the room page.
pub mod chat;
/// The chrome around every page: header, who is logged in, theme switch.
pub mod chrome;
/// The error type of every server function.
pub mod error;
/// Form fields that several forms ask for.
pub mod fields;
/// The search and Mentions pages.
pub mod finding;
/// The landing page.
pub mod home;
/// Message formatting: markdown to view nodes, never to an HTML string.
pub mod markdown;
/// Who a message mentions (`@name`, `@room`), for the server and the browser alike.
pub mod mentions;
/// Plain data shared by server functions, pages and the server.
pub mod model;
/// The WebSocket protocol: every frame, shared by server and browser.
pub mod protocol;
/// Rooms and history: rules and server functions.
pub mod rooms;
/// What server functions get from the server, and who is calling.
#[cfg(feature = "ssr")]
pub mod services;
/// Who is logged in, and the account actions, as context for every page.
pub mod session;
/// Light/dark/system colour scheme, remembered per browser.
pub mod theme;
/// A room's state and the one reducer that applies its log's events.
pub mod timeline;

/// The name cargo-leptos gives the wasm, JS and CSS bundles (`[workspace.metadata.leptos] name`).
pub const OUTPUT_NAME: &str = "banter";

/// A page title that follows `title` in the browser. The server formats titles while it
/// streams the page, outside the reactive arena that signals live in (reading one
/// there panicked now and then), so it evaluates `title` once, here, while rendering.
pub fn page_title(title: impl Fn() -> String + Send + Sync + 'static) -> TextProp {
    #[cfg(feature = "hydrate")]
    {
        TextProp::from(title)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        TextProp::from(title())
    }
}

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let assets = use_context::<assets::SiteAssets>()
        .unwrap_or_else(|| assets::SiteAssets::unversioned(&options.site_pkg_dir));
    // One nonce per page: Leptos puts it on the scripts it writes (resources, reload),
    // and the policy sent with the page allows those scripts and no others.
    #[cfg(feature = "ssr")]
    let nonce = {
        leptos::nonce::provide_nonce();
        let nonce = leptos::nonce::use_nonce().map(|nonce| nonce.to_string());
        if let (Some(nonce), Some(response)) =
            (&nonce, use_context::<leptos_axum::ResponseOptions>())
        {
            if let Ok(policy) = http::HeaderValue::from_str(&assets::content_security_policy(nonce))
            {
                response.insert_header(http::header::CONTENT_SECURITY_POLICY, policy);
            }
        }
        nonce
    };
    #[cfg(not(feature = "ssr"))]
    let nonce: Option<String> = None;
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                // `resizes-content`: the on-screen keyboard shrinks the page, so the
                // composer stays above it (browsers without it: `visualViewport`).
                <meta
                    name="viewport"
                    content="width=device-width, initial-scale=1, interactive-widget=resizes-content"
                />
                <meta name="color-scheme" content="light dark" />
                <meta name="theme-color" media="(prefers-color-scheme: light)" content="#ffffff" />
                <meta name="theme-color" media="(prefers-color-scheme: dark)" content="#17171c" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <link rel="manifest" href="/manifest.webmanifest" />
                <link rel="apple-touch-icon" href="/icon-192.png" />
                <link rel="stylesheet" href=assets.css.clone() />
                <link rel="modulepreload" href=assets.js.clone() />
                <link
                    rel="preload"
                    href=assets.wasm.clone()
                    r#as="fetch"
                    r#type="application/wasm"
                    crossorigin=""
                />
                <AutoReload options=options.clone() />
                <script type="module" nonce=nonce>{assets.boot_script()}</script>
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Keeps `--viewport-height` at the visible part of the page, so that the chat ends
/// above an on-screen keyboard on browsers that overlay it instead of resizing.
#[cfg(feature = "hydrate")]
fn follow_visual_viewport() {
    use wasm_bindgen::{closure::Closure, JsCast};
    let Some(viewport) = window().visual_viewport() else {
        return;
    };
    let update = || {
        let (Some(viewport), Some(root)) =
            (window().visual_viewport(), document().document_element())
        else {
            return;
        };
        if let Some(root) = root.dyn_ref::<web_sys::HtmlElement>() {
            let height = format!("{}px", viewport.height());
            let _ = root.style().set_property("--viewport-height", &height);
        }
    };
    update();
    // One listener for the tab's life.
    let on_resize = Closure::<dyn FnMut()>::new(update);
    viewport.set_onresize(Some(on_resize.as_ref().unchecked_ref()));
    on_resize.forget();
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Tests and scripts wait for this attribute: it only appears once the wasm runs.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
        #[cfg(feature = "hydrate")]
        follow_visual_viewport();
    });

    view! {
        <Router>
            <Layout />
        </Router>
    }
}

/// Everything inside the router. Pages render in `Async` mode: the server waits for
/// their data, so a browser without JavaScript gets complete pages.
#[component]
fn Layout() -> impl IntoView {
    let session = session::Session::provide();
    let live = chat::live::Live::provide();
    // Logging out leaves nothing of the person's unsent messages or drafts behind.
    Effect::new(move |before: Option<usize>| {
        let now = session.logout.version().get();
        if before.is_some_and(|before| before != now) {
            live.forget_kept();
        }
        now
    });
    view! {
        // What waits for the person shows in the tab's title: "(3) #general · Banter".
        // In the browser only: the server formats the title while streaming the page,
        // outside the reactive arena whose signals the count reads (it panicked there).
        <Title formatter=move |page: String| {
            let title = if page.is_empty() { "Banter".to_string() } else { format!("{page} · Banter") };
            #[cfg(feature = "hydrate")]
            let waiting = live.attention();
            #[cfg(not(feature = "hydrate"))]
            let waiting = { let _ = live; 0 };
            match waiting {
                0 => title,
                waiting => format!("({waiting}) {title}"),
            }
        } />
        <chrome::Header />
        <main id="main">
            <Routes fallback=NotFound>
                <Route path=StaticSegment("") view=home::HomePage ssr=SsrMode::Async />
                <Route path=StaticSegment("login") view=auth_pages::LoginPage ssr=SsrMode::Async />
                <Route
                    path=(StaticSegment("r"), ParamSegment("room"))
                    view=chat::page::ChatPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=StaticSegment("register")
                    view=auth_pages::RegisterPage
                    ssr=SsrMode::Async
                />
                <Route
                    path=(StaticSegment("r"), ParamSegment("room"), StaticSegment("files"))
                    view=attachments::page::RoomFilesPage
                    ssr=SsrMode::Async
                />
                <Route path=StaticSegment("search") view=finding::SearchPage ssr=SsrMode::Async />
                <Route path=StaticSegment("mentions") view=finding::MentionsPage ssr=SsrMode::Async />
                <Route path=StaticSegment("admin") view=admin::AdminPage ssr=SsrMode::Async />
            </Routes>
        </main>
    }
}

/// Shown for any path no route claims; the server also answers it with 404.
#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <section class="page-message">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. " <a href="/">"Back to Banter"</a></p>
        </section>
    }
}
