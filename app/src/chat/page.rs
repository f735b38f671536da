use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{live::Live, room::RoomView};
use crate::{
    error::ApiError,
    rooms::{history, list_rooms, rules::DEFAULT_ROOM, CreateRoom, RoomSummary},
    session::{form_error, use_session},
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
    let rooms = Resource::new(move || create.version().get(), |_| list_rooms(None, None));
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
