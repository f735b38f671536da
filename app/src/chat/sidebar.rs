//! The sidebar: search, Mentions, the rooms the person is in (with what is unread and
//! what mentions them), the rooms they could join, their direct conversations by last
//! activity, and the buttons that act on all of it.

use leptos::{prelude::*, task::spawn_local};

use super::{live::Live, notify};
use crate::{
    error::ApiError,
    fields::UsernameInput,
    rooms::{find_users, mark_all_read, CreateRoom, OpenDm, RoomSummary},
    session::form_error,
};

#[component]
pub fn Sidebar(
    rooms: Resource<Result<Vec<RoomSummary>, ApiError>>,
    create: ServerAction<CreateRoom>,
    current: Memo<String>,
) -> impl IntoView {
    let live = expect_context::<Live>();
    let error = form_error(create);
    view! {
        <nav class="sidebar" id="rooms" aria-label="Rooms">
            <a class="drawer-close" href="#">"Close"</a>
            <form class="search-box" method="get" action="/search" role="search">
                <label for="search-q" class="visually-hidden">
                    "Search messages"
                </label>
                <input id="search-q" name="q" type="search" placeholder="Search (in:#room from:@name)" />
            </form>
            <a class="sidebar-link" href="/mentions">
                "Mentions"
            </a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let list = rooms.await.unwrap_or_default();
                    // The counts are right on the first (server-rendered) page too.
                    live.absorb_list(&list);
                    let (mut dms, others): (Vec<_>, Vec<_>) = list.into_iter().partition(|r| r.dm);
                    dms.sort_by_key(|room| std::cmp::Reverse(room.last_activity));
                    let (mine, more): (Vec<_>, Vec<_>) = others
                        .into_iter()
                        .partition(|r| r.role.is_some());
                    view! {
                        <h2>"Rooms"</h2>
                        <ul class="room-list">
                            {mine.into_iter().map(|room| view! { <RoomLink room current /> }).collect_view()}
                        </ul>
                        {(!more.is_empty())
                            .then(|| {
                                view! {
                                    <details class="more-rooms">
                                        <summary>{format!("More rooms ({})", more.len())}</summary>
                                        <ul class="room-list">
                                            {more
                                                .into_iter()
                                                .map(|room| view! { <RoomLink room current /> })
                                                .collect_view()}
                                        </ul>
                                    </details>
                                }
                            })}
                        <h2 id="dm-title">"Direct messages"</h2>
                        <ul class="room-list dm-list" aria-labelledby="dm-title">
                            {dms.into_iter().map(|room| view! { <RoomLink room current /> }).collect_view()}
                        </ul>
                    }
                })}
            </Transition>
            <NewMessage />
            <div class="sidebar-actions">
                <button
                    type="button"
                    class="link-button"
                    on:click=move |_| {
                        spawn_local(async move {
                            if let Ok(states) = mark_all_read().await {
                                for state in states {
                                    live.room(&state.room).absorb_read(&state);
                                }
                            }
                        });
                    }
                >
                    "Mark all as read"
                </button>
                <NotificationSwitch />
            </div>
            <details class="new-room">
                <summary>"New room"</summary>
                <ActionForm action=create attr:class="stacked-form">
                    <label for="new-room-name">"Name"</label>
                    <input
                        id="new-room-name"
                        name="name"
                        required
                        maxlength="32"
                        pattern="[a-zA-Z0-9\\-]{1,32}"
                        placeholder="e.g. ops"
                    />
                    <label for="new-room-topic">"Topic (optional)"</label>
                    <input id="new-room-topic" name="topic" maxlength="200" />
                    <label class="checkbox">
                        <input type="checkbox" name="private" value="true" />
                        " Private: invite only, hidden from everyone else"
                    </label>
                    <p class="form-error" role="alert">
                        {move || error.get()}
                    </p>
                    <button type="submit" class="primary">
                        "Create room"
                    </button>
                </ActionForm>
            </details>
        </nav>
    }
}

/// One room in a list, with its unread and mention counts.
#[component]
fn RoomLink(room: RoomSummary, current: Memo<String>) -> impl IntoView {
    let live = expect_context::<Live>();
    let name = room.name.clone();
    let href = format!("/r/{name}");
    let is_current = {
        let name = name.clone();
        move || current.get() == name
    };
    let counts = {
        let name = name.clone();
        move || live.unread(&name)
    };
    let muted = {
        let name = name.clone();
        move || live.room(&name).muted.get()
    };
    let label = room.label();
    view! {
        <li>
            <a
                href=href
                title=room.topic.clone()
                class:muted=muted
                aria-current=move || is_current().then_some("page")
            >
                <span class="room-name">
                    {room.private.then_some(view! { <span aria-label="private">"🔒 "</span> })}
                    {label}
                </span>
                {move || {
                    let (unread, mentions) = counts();
                    view! {
                        {(mentions > 0)
                            .then(|| {
                                view! {
                                    <span class="mention-count" aria-label=if mentions == 1 { "1 mention".to_string() } else { format!("{mentions} mentions") }>
                                        {format!("@{mentions}")}
                                    </span>
                                }
                            })}
                        {(unread > 0)
                            .then(|| {
                                view! {
                                    <span class="unread" aria-label=format!("{unread} unread")>
                                        {unread}
                                    </span>
                                }
                            })}
                    }
                }}
            </a>
        </li>
    }
}

/// "New message": a conversation with one or more people, names completed as typed.
#[component]
fn NewMessage() -> impl IntoView {
    let open = ServerAction::<OpenDm>::new();
    let error = form_error(open);
    let typed = RwSignal::new(String::new());
    // Completes the name being typed: the part after the last comma.
    let suggestions = Resource::new(
        move || {
            typed
                .get()
                .rsplit(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_string()
        },
        |prefix| async move {
            if prefix.is_empty() {
                Vec::new()
            } else {
                find_users(prefix).await.unwrap_or_default()
            }
        },
    );
    view! {
        <details class="new-dm">
            <summary>"New message"</summary>
            <ActionForm action=open attr:class="stacked-form">
                <label for="new-dm-people">"To (usernames, comma-separated)"</label>
                <UsernameInput
                    id="new-dm-people"
                    name="usernames"
                    list="new-dm-suggestions"
                    autocomplete="off"
                    on:input=move |ev| typed.set(event_target_value(&ev))
                />
                <datalist id="new-dm-suggestions">
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let before = {
                                let typed = typed.get_untracked();
                                match typed.rsplit_once(',') {
                                    Some((before, _)) => format!("{before}, "),
                                    None => String::new(),
                                }
                            };
                            suggestions
                                .await
                                .into_iter()
                                .map(|name| view! { <option value=format!("{before}{name}")></option> })
                                .collect_view()
                        })}
                    </Transition>
                </datalist>
                <p class="form-error" role="alert">
                    {move || error.get()}
                </p>
                <button type="submit" class="primary">
                    "Start conversation"
                </button>
            </ActionForm>
        </details>
    }
}

/// "Enable notifications": asks the browser only when clicked.
#[component]
fn NotificationSwitch() -> impl IntoView {
    let live = expect_context::<Live>();
    let supported = RwSignal::new(false);
    Effect::new(move |_| {
        supported.set(notify::supported());
        live.notifications.set(notify::enabled());
    });
    move || {
        supported.get().then(|| {
            if live.notifications.get() {
                view! {
                    <button
                        type="button"
                        class="link-button"
                        on:click=move |_| {
                            notify::disable();
                            live.notifications.set(false);
                        }
                    >
                        "Turn notifications off"
                    </button>
                }
                .into_any()
            } else {
                view! {
                    <button
                        type="button"
                        class="link-button"
                        on:click=move |_| {
                            spawn_local(async move {
                                let on = notify::enable().await;
                                live.notifications.set(on);
                            });
                        }
                    >
                        "Enable notifications"
                    </button>
                }
                .into_any()
            }
        })
    }
}
