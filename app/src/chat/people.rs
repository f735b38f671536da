//! A room's people: the member list with roles, and for the owner and moderators the
//! means to invite, remove, name moderators, restrict `@room` and archive; a mute
//! switch for everyone; a button that starts a conversation with someone.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::hooks::use_navigate;

use super::context::RoomContext;
use crate::{
    error::ApiError,
    fields::UsernameInput,
    model::Member,
    protocol::Role,
    rooms::{
        archive_room, invite, mute_room, open_dm, remove_member, room_members, set_role,
        set_room_mentions,
    },
};

/// Starts (or reopens) the conversation with `user` and goes there.
#[component]
pub fn MessageButton(user: String) -> impl IntoView {
    let navigate = use_navigate();
    let label = format!("Message {user}");
    view! {
        <button
            type="button"
            class="link-button person"
            title=label.clone()
            aria-label=label
            on:click=move |_| {
                let user = user.clone();
                let navigate = navigate.clone();
                spawn_local(async move {
                    if let Ok(room) = open_dm(user).await {
                        navigate(&format!("/r/{}", room.name), Default::default());
                    }
                });
            }
        >
            {user.clone()}
        </button>
    }
}

/// "Mute" / "Unmute" for a room one is in: no notifications, not in the title count.
#[component]
pub fn MuteSwitch() -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let state = ctx.state;
    move || {
        (ctx.hydrated.get() && state.member.get()).then(|| {
            let muted = state.muted.get();
            view! {
                <button
                    type="button"
                    class="link-button mute"
                    aria-pressed=muted.to_string()
                    on:click=move |_| {
                        let room = ctx.name();
                        state.muted.set(!muted);
                        spawn_local(async move {
                            if mute_room(room, !muted).await.is_err() {
                                state.muted.set(muted);
                            }
                        });
                    }
                >
                    {if muted { "Unmute" } else { "Mute" }}
                </button>
            }
        })
    }
}

/// The members of the room and, for those who manage it, what they can do.
#[component]
pub fn People() -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let state = ctx.state;
    let error = RwSignal::new(None::<String>);
    // Read again whenever a membership event arrives.
    let members = Resource::new(
        move || (ctx.name(), state.timeline.with(|t| t.membership())),
        |(room, _)| room_members(room),
    );
    let my_role = move |list: &[Member]| {
        let me = ctx.me.get_untracked();
        list.iter()
            .find(|m| Some(&m.username) == me.as_ref())
            .map(|m| m.role)
    };
    let report = move |outcome: Result<(), ApiError>| {
        error.set(outcome.err().map(|e| e.to_string()));
    };
    view! {
        {move || {
            (!state.dm.get())
                .then(|| {
                    view! {
                        <h2 id="people-title">"Members"</h2>
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                let list = members.await.unwrap_or_default();
                                let mine = my_role(&list);
                                let manages = mine.is_some_and(Role::manages);
                                let owner = mine == Some(Role::Owner);
                                view! {
                                    <ul class="people" aria-labelledby="people-title">
                                        {list
                                            .into_iter()
                                            .map(|member| {
                                                view! { <PersonRow member manages owner report /> }
                                            })
                                            .collect_view()}
                                    </ul>
                                    {manages.then(|| view! { <Manage report /> })}
                                }
                            })}
                        </Transition>
                        <p class="form-error" role="alert">
                            {move || error.get()}
                        </p>
                    }
                })
        }}
    }
}

#[component]
fn PersonRow(
    member: Member,
    manages: bool,
    owner: bool,
    report: impl Fn(Result<(), ApiError>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let name = member.username.clone();
    let role = match member.role {
        Role::Owner => Some("owner"),
        Role::Moderator => Some("moderator"),
        Role::Member => None,
    };
    let me = ctx.me.get_untracked().as_deref() == Some(name.as_str());
    let can_remove =
        manages && !me && member.role != Role::Owner && (owner || member.role == Role::Member);
    let can_promote = owner && !me && member.role != Role::Owner;
    let remove = {
        let name = name.clone();
        move |_| {
            let (room, name) = (ctx.name(), name.clone());
            spawn_local(async move { report(remove_member(room, name, None).await.map(drop)) });
        }
    };
    let promote = {
        let name = name.clone();
        let next = if member.role == Role::Moderator {
            "member"
        } else {
            "moderator"
        };
        move |_| {
            let (room, name) = (ctx.name(), name.clone());
            spawn_local(async move {
                report(set_role(room, name, next.to_string(), None).await.map(drop))
            });
        }
    };
    view! {
        <li>
            <span class="person-name">{name.clone()}</span>
            {role.map(|role| view! { <span class="role">{role}</span> })}
            {(ctx.hydrated.get_untracked() && can_promote)
                .then(|| {
                    let label = if member.role == Role::Moderator {
                        "Make member"
                    } else {
                        "Make moderator"
                    };
                    view! {
                        <button type="button" class="link-button" on:click=promote>
                            {label}
                        </button>
                    }
                })}
            {(ctx.hydrated.get_untracked() && can_remove)
                .then(|| {
                    view! {
                        <button
                            type="button"
                            class="link-button danger"
                            aria-label=format!("Remove {name}")
                            on:click=remove
                        >
                            "Remove"
                        </button>
                    }
                })}
        </li>
    }
}

/// Invite someone, restrict `@room`, archive the room.
#[component]
fn Manage(report: impl Fn(Result<(), ApiError>) + Copy + Send + Sync + 'static) -> impl IntoView {
    let ctx = expect_context::<RoomContext>();
    let who = RwSignal::new(String::new());
    let confirming = RwSignal::new(false);
    let invite_one = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (room, name) = (ctx.name(), who.get_untracked());
        who.set(String::new());
        spawn_local(async move { report(invite(room, name, None).await.map(drop)) });
    };
    view! {
        <form class="invite-form" on:submit=invite_one>
            <label for="invite-name">"Invite"</label>
            <UsernameInput
                id="invite-name"
                placeholder="username"
                prop:value=move || who.get()
                on:input=move |ev| who.set(event_target_value(&ev))
            />
            <button type="submit">"Invite"</button>
        </form>
        <label class="checkbox">
            <input
                type="checkbox"
                prop:checked=move || ctx.state.room_mentions_restricted.get()
                on:change=move |ev| {
                    let only = event_target_checked(&ev);
                    ctx.state.room_mentions_restricted.set(only);
                    let room = ctx.name();
                    spawn_local(async move { report(set_room_mentions(room, only).await) });
                }
            />
            " Only moderators may use @room"
        </label>
        {move || {
            if confirming.get() {
                view! {
                    <p class="confirm">
                        "Archive for good? Nobody can post afterwards. "
                        <button
                            type="button"
                            class="danger"
                            on:click=move |_| {
                                confirming.set(false);
                                let room = ctx.name();
                                spawn_local(async move {
                                    report(archive_room(room, None).await.map(drop))
                                });
                            }
                        >
                            "Archive"
                        </button>
                        <button type="button" class="link-button" on:click=move |_| confirming.set(false)>
                            "Cancel"
                        </button>
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    <button type="button" class="link-button danger" on:click=move |_| confirming.set(true)>
                        "Archive room"
                    </button>
                }
                    .into_any()
            }
        }}
    }
}
