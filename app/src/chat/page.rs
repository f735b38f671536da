use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use super::{
    drawers::{Drawer, Drawers},
    live::Live,
    room::RoomView,
    sidebar::Sidebar,
};
use crate::{
    rooms::{history, list_rooms, rules::DEFAULT_ROOM, CreateRoom},
    session::use_session,
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
    let live = expect_context::<Live>();
    let create = ServerAction::<CreateRoom>::new();
    let drawers = Drawers::provide();
    // Opening a room closes the drawer it was chosen in.
    Effect::new(move |_| {
        room.track();
        drawers.close();
    });
    // Read again after creating a room, and whenever the server says the list changed.
    let rooms = Resource::new(
        move || (create.version().get(), live.list_wanted.get()),
        |_| list_rooms(None, None),
    );
    let recent = Resource::new(
        move || room.get(),
        |name| async move {
            let page = history(name.clone(), None, None).await;
            (name, page)
        },
    );

    view! {
        <Title text=crate::page_title(move || {
            let name = room.get();
            live.room(&name).title(&name)
        }) />
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                session
                    .user
                    .get()
                    .map(|user| match user {
                        Ok(Some(_)) => {
                            view! {
                                <div
                                    class="chat"
                                    class:rooms-open=move || drawers.is_open(Drawer::Rooms)
                                    class:people-open=move || drawers.is_open(Drawer::People)
                                >
                                    <div
                                        class="drawer-backdrop"
                                        aria-hidden="true"
                                        on:click=move |_| drawers.close()
                                    ></div>
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
