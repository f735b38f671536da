//! One room on screen: its header, the message list (keyed, so an event re-renders
//! only the message it changed), who is typing, the composer and who is online.

use leptos::{html, prelude::*};

use super::{
    composer::Composer,
    context::RoomContext,
    drawers::{badge, Drawer, DrawerToggle},
    files::Viewer,
    live::{browser_ms, typing_sentence, Live, Status},
    message::{MessageItem, PendingItem, Row},
    people::{MuteSwitch, People},
    time::day_and_time,
};
use crate::{model::HistoryPage, rooms::rules::DEFAULT_ROOM, session::use_session};

/// How close to the end of the list counts as having read it (pixels).
const AT_END: i32 = 40;

#[component]
pub fn RoomView(name: String, page: HistoryPage, topic: Signal<String>) -> impl IntoView {
    let live = expect_context::<Live>();
    let session = use_session();
    let me = Signal::derive(move || session.current_user().map(|user| user.username));
    // Local times and the socket only once the wasm runs; the server renders UTC.
    let hydrated = RwSignal::new(false);
    let ctx = RoomContext::new(name.clone(), live, me, hydrated);
    let state = ctx.state;
    state.absorb(&page, false);
    provide_context(ctx);
    let now = RwSignal::new(0.0);
    // `?at=SEQ` (a search result, a mention) opens the room at that message.
    let at = leptos_router::hooks::use_query_map()
        .get_untracked()
        .get("at")
        .and_then(|seq| seq.parse::<i64>().ok());
    {
        let name = name.clone();
        // What this browser kept unsent (a reload, a closed tab) goes out again.
        Effect::new(move |_| {
            if let Some(me) = me.get() {
                live.restore(&me);
            }
        });
        Effect::new(move |_| {
            hydrated.set(true);
            #[cfg(feature = "hydrate")]
            live.start();
            live.open(&name);
            // The "new messages" divider goes where the user's reading stands now.
            ctx.view.divider.set(state.divider());
            if let Some(seq) = at {
                ctx.jump_to(seq);
            }
        });
    }
    // Bumped when the tab comes back on screen, to read what arrived meanwhile.
    let shown = RwSignal::new(0u32);
    #[cfg(feature = "hydrate")]
    {
        let handle = window_event_listener(leptos::ev::visibilitychange, move |_| {
            shown.update(|n| *n += 1)
        });
        on_cleanup(move || handle.remove());
    }
    #[cfg(feature = "hydrate")]
    {
        // Re-check typing notices every second so they expire on screen.
        if let Ok(handle) = set_interval_with_handle(
            move || now.set(browser_ms()),
            std::time::Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
    }
    let typing = move || {
        now.get();
        let me = me.get();
        typing_sentence(&state.typing_now(me.as_deref(), browser_ms()))
    };
    let list = NodeRef::<html::Div>::new();
    // Keep the newest message in view as messages arrive at the end, unless the reader
    // scrolled up. Older pages arriving at the top, edits and reactions do not move it.
    Effect::new(move |previous: Option<(bool, Option<i64>, usize)>| {
        let newest = state
            .timeline
            .with(|t| t.messages().next_back().map(|m| m.seq));
        let shown = list.get();
        let now = (shown.is_some(), newest, state.pending.with(Vec::len));
        if previous != Some(now) {
            if let Some(list) = shown {
                let distance = list.scroll_height() - list.scroll_top() - list.client_height();
                if distance < 200 {
                    list.set_scroll_top(list.scroll_height());
                }
            }
        }
        now
    });
    // Reading: with the room on screen, the tab visible and the list scrolled to its
    // end, the newest message is read; the server keeps the position for every tab.
    let read_newest = {
        let name = name.clone();
        move || {
            // Also called a frame later, when the room may have been left already.
            let Some(Some(element)) = list.try_get_untracked() else {
                return;
            };
            let at_end =
                element.scroll_height() - element.scroll_top() - element.client_height() <= AT_END;
            let active = live
                .active
                .with_untracked(|a| a.as_deref() == Some(name.as_str()));
            if at_end && active && !super::notify::tab_hidden() {
                if let Some(newest) = state
                    .timeline
                    .with_untracked(|t| t.messages().next_back().map(|m| m.seq))
                {
                    live.read_to(&name, newest);
                }
            }
        }
    };
    {
        let read_newest = read_newest.clone();
        Effect::new(move |_| {
            state.timeline.track();
            shown.track();
            state.last_read.track();
            // After the list has rendered what arrived.
            request_animation_frame(read_newest.clone());
        });
    }
    // One row per message, with a day separator where the day changes and the "new
    // messages" divider after the read position; keyed by the message's revision, so
    // an edit or a reaction re-renders that message only.
    let rows = move || {
        let local = hydrated.get();
        let divider = ctx.view.divider.get();
        let me = me.get();
        state.timeline.with(|timeline| {
            let mut last_day = String::new();
            let mut divided = false;
            timeline
                .revisions()
                .map(|(view, revision)| {
                    let (day, _) = day_and_time(&view.sent_at, local);
                    let separator = (day != last_day).then(|| day.clone());
                    last_day = day;
                    let first_new = !divided
                        && divider.is_some_and(|read| view.seq > read)
                        && me.as_deref() != Some(view.author.as_str());
                    divided |= first_new;
                    Row {
                        view: view.clone(),
                        revision,
                        separator,
                        first_new,
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let shown_topic = move || {
        state
            .timeline
            .with(|t| t.topic().map(str::to_string))
            .unwrap_or_else(|| topic.get())
    };
    let room_label = format!("Messages in #{name}");
    let title = {
        let name = name.clone();
        move || state.title(&name)
    };
    let archived = move || state.archived.get() || state.timeline.with(|t| t.archived());
    // The member list (and its management) shows on request.
    let show_people = RwSignal::new(false);
    // Files dragged over the room: it shows where they will go.
    let dropping = RwSignal::new(false);
    let files_href = format!("/r/{}/files", crate::attachments::encode_segment(&name));

    view! {
        <section
            class="room"
            class:dropping=move || dropping.get()
            aria-labelledby="room-title"
            on:dragover=move |ev: leptos::ev::DragEvent| {
                if carries_files(&ev) && !archived() {
                    ev.prevent_default();
                    dropping.set(true);
                }
            }
            on:dragleave=move |_| dropping.set(false)
            on:drop=move |ev: leptos::ev::DragEvent| {
                dropping.set(false);
                if archived() {
                    return;
                }
                #[cfg(feature = "hydrate")]
                if let Some(files) = ev.data_transfer().and_then(|d| d.files()) {
                    if files.length() > 0 {
                        ev.prevent_default();
                        super::composer::attach(ctx, &files);
                    }
                }
                #[cfg(not(feature = "hydrate"))]
                let _ = ev;
            }
        >
            <header class="room-header">
                <DrawerToggle
                    drawer=Drawer::Rooms
                    label="Rooms"
                    badge=Signal::derive({
                        let name = name.clone();
                        move || {
                            let (unread, mentions) = live.waiting_elsewhere(&name);
                            badge(unread, mentions)
                        }
                    })
                />
                <h1 id="room-title">{title}</h1>
                <p class="topic">{shown_topic}</p>
                <DrawerToggle
                    drawer=Drawer::People
                    label="People"
                    badge=Signal::derive(move || {
                        let online = state.online.with(|online| online.len());
                        (online > 0).then(|| online.to_string())
                    })
                />
                <MuteSwitch />
                <a class="link-button" href=files_href>"Files"</a>
                {move || {
                    (hydrated.get() && !state.dm.get())
                        .then(|| {
                            view! {
                                <button
                                    type="button"
                                    class="link-button"
                                    aria-expanded=move || show_people.get().to_string()
                                    on:click=move |_| show_people.update(|shown| *shown = !*shown)
                                >
                                    "Members"
                                </button>
                            }
                        })
                }}
                {
                    let name = name.clone();
                    let navigate = leptos_router::hooks::use_navigate();
                    move || {
                        let name = name.clone();
                        let navigate = navigate.clone();
                        (hydrated.get() && name != DEFAULT_ROOM && !state.dm.get() && state.member.get())
                            .then(|| {
                                view! {
                                    <button
                                        type="button"
                                        class="link-button leave"
                                        on:click=move |_| {
                                            live.leave(&name);
                                            navigate(&format!("/r/{DEFAULT_ROOM}"), Default::default());
                                        }
                                    >
                                        "Leave room"
                                    </button>
                                }
                            })
                    }
                }
            </header>
            <ConnectionBanner />
            // The list is a log, but not a live region: edits and reactions to old
            // messages must not be read out. New messages are announced below.
            <div
                class="messages"
                role="log"
                aria-live="off"
                aria-label=room_label
                tabindex="0"
                node_ref=list
                on:scroll=move |_| {
                    read_newest();
                    if let Some(list) = list.get() {
                        if list.scroll_top() < 40 && state.has_more.get_untracked() {
                            leptos::task::spawn_local(async move {
                                ctx.load_older().await;
                            });
                        }
                    }
                }
            >
                {move || {
                    state
                        .has_more
                        .get()
                        .then(|| {
                            view! {
                                <button
                                    type="button"
                                    class="load-older"
                                    disabled=move || ctx.loading_older()
                                    on:click=move |_| {
                                        leptos::task::spawn_local(async move {
                                            ctx.load_older().await;
                                        })
                                    }
                                >
                                    "Load older messages"
                                </button>
                            }
                        })
                }}
                <For
                    each=rows
                    key=|row| (row.view.seq, row.revision, row.separator.clone(), row.first_new)
                    let:row
                >
                    <MessageItem row />
                </For>
                <For
                    each=move || state.pending.get()
                    key=|pending| (pending.client_id.clone(), pending.state.clone())
                    let:pending
                >
                    <PendingItem pending />
                </For>
            </div>
            <p class="typing" aria-live="polite">
                {typing}
            </p>
            {move || {
                if archived() {
                    view! {
                        <p class="banner archived" role="status">
                            "This room is archived: it is read-only."
                        </p>
                    }
                        .into_any()
                } else {
                    view! { <Composer /> }.into_any()
                }
            }}
            <Viewer />
        </section>
        <aside class="members" id="people" aria-labelledby="members-title">
            <a class="drawer-close" href="#">"Close"</a>
            <h2 id="members-title">"Online"</h2>
            <ul>
                {move || {
                    let me = me.get();
                    state
                        .online
                        .get()
                        .into_iter()
                        .map(|user| {
                            if me.as_deref() == Some(user.as_str()) {
                                view! { <li>{user}</li> }.into_any()
                            } else {
                                view! { <li><super::people::MessageButton user /></li> }.into_any()
                            }
                        })
                        .collect_view()
                }}
            </ul>
            {move || show_people.get().then(|| view! { <People /> })}
        </aside>
        <p class="visually-hidden" aria-live="polite">
            {move || state.announcement.get()}
        </p>
    }
    .into_any()
}

#[component]
fn ConnectionBanner() -> impl IntoView {
    let live = expect_context::<Live>();
    let notice = move || live.notice.get();
    view! {
        {move || match live.status.get() {
            Status::Reconnecting { seconds } => {
                Some(
                    view! {
                        <p class="banner offline" role="status">
                            {format!("Connection lost. Reconnecting in {seconds} s… Messages you send now are kept and sent when back.")}
                        </p>
                    }
                        .into_any(),
                )
            }
            Status::Connecting => {
                Some(view! { <p class="banner connecting" role="status">"Connecting…"</p> }.into_any())
            }
            Status::Online | Status::Idle => None,
        }}
        {move || {
            notice()
                .map(|text| {
                    view! {
                        <p class="banner notice" role="status">
                            {text}
                            " "
                            <button
                                type="button"
                                class="link-button"
                                on:click=move |_| live.notice.set(None)
                            >
                                "Dismiss"
                            </button>
                        </p>
                    }
                })
        }}
    }
}

/// Whether a drag brings files (not text or a link being moved).
fn carries_files(ev: &leptos::ev::DragEvent) -> bool {
    #[cfg(feature = "hydrate")]
    {
        ev.data_transfer()
            .map(|d| d.types().includes(&"Files".into(), 0))
            .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ev;
        false
    }
}
