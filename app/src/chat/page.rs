use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use server_fn::ServerFn;

use super::{
    live::{new_client_id, now_ms, typing_sentence, Live, PendingState, Status},
    time::day_and_time,
};
use crate::{
    error::ApiError,
    protocol::ChatMessage,
    rooms::{
        history, list_rooms, rules::DEFAULT_ROOM, CreateRoom, HistoryPage, PostMessage, RoomSummary,
    },
    session::{form_error, url_error, use_session},
};

/// `/r/:room`: the chat. Server-rendered with the room's recent history (so it reads
/// without JavaScript, and the composer then posts as a plain form); once hydrated,
/// live over the WebSocket.
#[component]
pub fn ChatPage() -> impl IntoView {
    let params = use_params_map();
    let room = Memo::new(move |_| {
        params
            .read()
            .get("room")
            .unwrap_or_else(|| DEFAULT_ROOM.to_string())
    });
    let session = use_session();
    let create = ServerAction::<CreateRoom>::new();
    let rooms = Resource::new(move || create.version().get(), |_| list_rooms());
    let recent = Resource::new(
        move || room.get(),
        |name| async move {
            let page = history(name.clone(), None, None).await;
            (name, page)
        },
    );

    view! {
        <Title text=move || format!("#{}", room.get()) />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                session
                    .user
                    .get()
                    .map(|user| match user {
                        Ok(Some(_)) => {
                            view! {
                                <div class="chat">
                                    <Sidebar rooms create current=room />
                                    {move || Suspend::new(async move {
                                        let (name, page) = recent.await;
                                        match page {
                                            Ok(page) => {
                                                let topic = {
                                                    let name = name.clone();
                                                    Signal::derive(move || {
                                                        rooms
                                                            .get()
                                                            .and_then(Result::ok)
                                                            .and_then(|list| list.into_iter().find(|r| r.name == name))
                                                            .map(|r| r.topic)
                                                            .unwrap_or_default()
                                                    })
                                                };
                                                view! { <RoomView name page topic /> }.into_any()
                                            }
                                            Err(error) => {
                                                view! {
                                                    <section class="room room-missing">
                                                        <h1>{format!("#{name}")}</h1>
                                                        <p role="alert">{error.to_string()}</p>
                                                        <p>
                                                            <a href=format!("/r/{DEFAULT_ROOM}")>
                                                                {format!("Go to #{DEFAULT_ROOM}")}
                                                            </a>
                                                        </p>
                                                    </section>
                                                }
                                                    .into_any()
                                            }
                                        }
                                    })}
                                </div>
                            }
                                .into_any()
                        }
                        _ => {
                            view! {
                                <section class="page-message">
                                    <h1>"Log in to chat"</h1>
                                    <p>
                                        <a href="/login">"Log in"</a>
                                        " or "
                                        <a href="/register">"create an account"</a>
                                        " to read and post in rooms."
                                    </p>
                                </section>
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

#[component]
fn Sidebar(
    rooms: Resource<Result<Vec<RoomSummary>, ApiError>>,
    create: ServerAction<CreateRoom>,
    current: Memo<String>,
) -> impl IntoView {
    let live = expect_context::<Live>();
    let error = form_error(create);
    view! {
        <nav class="sidebar" aria-label="Rooms">
            <h2>"Rooms"</h2>
            <Transition fallback=|| ()>
                <ul class="room-list">
                    {move || Suspend::new(async move {
                        rooms
                            .await
                            .unwrap_or_default()
                            .into_iter()
                            .map(|summary| {
                                let name = summary.name.clone();
                                let href = format!("/r/{name}");
                                let is_current = {
                                    let name = name.clone();
                                    move || current.get() == name
                                };
                                let unread = {
                                    let name = name.clone();
                                    move || live.unread(&name)
                                };
                                view! {
                                    <li>
                                        <a
                                            href=href
                                            title=summary.topic.clone()
                                            aria-current=move || is_current().then_some("page")
                                        >
                                            <span class="room-name">{format!("#{name}")}</span>
                                            {move || {
                                                let n = unread();
                                                (n > 0)
                                                    .then(|| {
                                                        view! {
                                                            <span class="unread" aria-label=format!("{n} unread")>
                                                                {n}
                                                            </span>
                                                        }
                                                    })
                                            }}
                                        </a>
                                    </li>
                                }
                            })
                            .collect_view()
                    })}
                </ul>
            </Transition>
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

#[component]
fn RoomView(name: String, page: HistoryPage, topic: Signal<String>) -> impl IntoView {
    let live = expect_context::<Live>();
    let session = use_session();
    let state = live.room(&name);
    state.absorb(&page, false);
    let me = move || session.current_user().map(|user| user.username);
    // Local times and the socket only once the wasm runs; the server renders UTC.
    let hydrated = RwSignal::new(false);
    let now = RwSignal::new(0.0);
    {
        let name = name.clone();
        Effect::new(move |_| {
            hydrated.set(true);
            #[cfg(feature = "hydrate")]
            live.start();
            live.open(&name);
        });
    }
    #[cfg(feature = "hydrate")]
    {
        // Re-check typing notices every second so they expire on screen.
        if let Ok(handle) =
            set_interval_with_handle(move || now.set(now_ms()), std::time::Duration::from_secs(1))
        {
            on_cleanup(move || handle.clear());
        }
    }
    let typing = move || {
        now.get();
        let me = me();
        typing_sentence(&state.typing_now(me.as_deref(), now_ms()))
    };
    let list = NodeRef::<leptos::html::Div>::new();
    let loading_older = RwSignal::new(false);
    let load_older = {
        let name = name.clone();
        move || {
            if loading_older.get_untracked() {
                return;
            }
            let Some(first) = state.first_seq() else {
                return;
            };
            loading_older.set(true);
            let name = name.clone();
            leptos::task::spawn_local(async move {
                if let Ok(older) = history(name, Some(first), None).await {
                    state.absorb(&older, true);
                }
                loading_older.set(false);
            });
        }
    };
    let load_older_on_scroll = load_older.clone();
    // Keep the newest message in view as messages arrive, unless the reader scrolled up.
    Effect::new(move |_| {
        state.messages.track();
        state.pending.track();
        if let Some(list) = list.get() {
            let distance = list.scroll_height() - list.scroll_top() - list.client_height();
            if distance < 200 {
                list.set_scroll_top(list.scroll_height());
            }
        }
    });
    let room_label = format!("Messages in #{name}");
    let room_for_pending = name.clone();

    view! {
        <section class="room" aria-labelledby="room-title">
            <header class="room-header">
                <h1 id="room-title">{format!("#{name}")}</h1>
                <p class="topic">{topic}</p>
                {
                    let name = name.clone();
                    let navigate = leptos_router::hooks::use_navigate();
                    move || {
                        let name = name.clone();
                        let navigate = navigate.clone();
                        (hydrated.get() && name != DEFAULT_ROOM)
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
            <div
                class="messages"
                role="log"
                aria-live="polite"
                aria-label=room_label
                tabindex="0"
                node_ref=list
                on:scroll=move |_| {
                    if let Some(list) = list.get() {
                        if list.scroll_top() < 40 && state.has_more.get_untracked() {
                            load_older_on_scroll();
                        }
                    }
                }
            >
                {move || {
                    state
                        .has_more
                        .get()
                        .then(|| {
                            let load_older = load_older.clone();
                            view! {
                                <button
                                    type="button"
                                    class="load-older"
                                    disabled=move || loading_older.get()
                                    on:click=move |_| load_older()
                                >
                                    "Load older messages"
                                </button>
                            }
                        })
                }}
                {move || {
                    let local = hydrated.get();
                    let me = me();
                    let messages: Vec<ChatMessage> = state.messages.with(|m| m.values().cloned().collect());
                    let mut last_day = String::new();
                    messages
                        .into_iter()
                        .map(|message| {
                            let (day, time) = day_and_time(&message.sent_at, local);
                            let separator = (day != last_day)
                                .then(|| view! { <div class="day" role="separator">{day.clone()}</div> });
                            last_day = day;
                            let mine = me.as_deref() == Some(message.author.as_str());
                            view! {
                                {separator}
                                <article class="message" class:mine=mine data-seq=message.seq>
                                    <header>
                                        <span class="author">{message.author.clone()}</span>
                                        <time datetime=message.sent_at.clone()>{time}</time>
                                    </header>
                                    <p class="body">{message.body.clone()}</p>
                                </article>
                            }
                        })
                        .collect_view()
                }}
                {move || {
                    let room = room_for_pending.clone();
                    state
                        .pending
                        .get()
                        .into_iter()
                        .map(|pending| {
                            let room = room.clone();
                            let client_id = pending.client_id.clone();
                            let failed = matches!(pending.state, PendingState::Failed(_));
                            view! {
                                <article class="message mine pending" class:failed=failed>
                                    <header>
                                        <span class="author">{me().unwrap_or_default()}</span>
                                        {match pending.state.clone() {
                                            PendingState::Sending => {
                                                view! { <span class="status">"sending…"</span> }.into_any()
                                            }
                                            PendingState::Failed(reason) => {
                                                view! {
                                                    <span class="status" title=reason>"failed — "</span>
                                                    <button
                                                        type="button"
                                                        class="link-button"
                                                        on:click=move |_| live.retry(&room, &client_id)
                                                    >
                                                        "retry"
                                                    </button>
                                                }
                                                    .into_any()
                                            }
                                        }}
                                    </header>
                                    <p class="body">{pending.body.clone()}</p>
                                </article>
                            }
                        })
                        .collect_view()
                }}
            </div>
            <p class="typing" aria-live="polite">
                {typing}
            </p>
            <Composer room=name.clone() />
        </section>
        <aside class="members" aria-labelledby="members-title">
            <h2 id="members-title">"Online"</h2>
            <ul>
                {move || {
                    state
                        .online
                        .get()
                        .into_iter()
                        .map(|user| view! { <li>{user}</li> })
                        .collect_view()
                }}
            </ul>
        </aside>
        <p class="visually-hidden" aria-live="assertive">
            {move || state.announcement.get()}
        </p>
    }
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
        {move || notice().map(|text| view! { <p class="banner notice" role="status">{text}</p> })}
    }
}

#[component]
fn Composer(room: String) -> impl IntoView {
    let live = expect_context::<Live>();
    let text = RwSignal::new(String::new());
    let no_js_error = url_error::<PostMessage>();
    let offline = move || matches!(live.status.get(), Status::Reconnecting { .. });
    let send = {
        let room = room.clone();
        move || {
            let body = text.get_untracked();
            if crate::protocol::check_body(&body).is_ok() {
                live.post(&room, body);
                text.set(String::new());
            }
        }
    };
    let on_submit = {
        let send = send.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            send();
        }
    };
    let typing_room = room.clone();
    view! {
        <form class="composer" class:offline=offline method="post" action=PostMessage::url() on:submit=on_submit>
            <input type="hidden" name="room" value=room.clone() />
            <input type="hidden" name="client_id" value=new_client_id() />
            <label for="composer-body" class="visually-hidden">
                {format!("Message #{room}")}
            </label>
            <textarea
                id="composer-body"
                name="body"
                rows="2"
                maxlength=crate::protocol::MAX_BODY_CHARS.to_string()
                placeholder=format!("Message #{room} (Enter sends, Shift+Enter for a new line)")
                prop:value=move || text.get()
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    live.typing(&typing_room);
                }
                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    }
                }
            ></textarea>
            <button type="submit" class="primary">
                "Send"
            </button>
            {no_js_error.map(|error| view! { <p class="form-error" role="alert">{error}</p> })}
        </form>
    }
}
