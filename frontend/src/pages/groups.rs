//! `/groups/NAME`: a group (`@NAME`), its members (from the sign-in provider or added by a
//! site admin) and the repos it owns that the visitor can see; site admins add and remove
//! local members with plain forms.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::group_view;
use crate::components::{Csrf, FieldError, FlashBox, LoadError};

#[component]
pub fn GroupPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.with(|p| p.get("name").unwrap_or_default());
    let data = Resource::new(name, group_view);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => {
                        let g = v.group.clone();
                        let forms = format!("/forms/groups/{}", g.name);
                        let f = v.flash.clone();
                        view! {
                            <Title text=format!("Group {}", g.owner)/>
                            <h1>{format!("Group {}", g.owner)}</h1>
                            <FlashBox flash=v.flash.clone()/>
                            <section aria-labelledby="group-repos">
                                <h2 id="group-repos">"Repositories"</h2>
                                {if v.repos.is_empty() {
                                    view! { <p class="empty">"No repositories you can see."</p> }.into_any()
                                } else {
                                    view! {
                                        <ul class="repos">
                                            {v.repos.iter().map(|r| view! {
                                                <li>
                                                    <a href=format!("/r/{}/{}", r.owner, r.name)>{r.full_name.clone()}</a>
                                                    {(r.visibility == kiln_proto::Visibility::Private).then(|| view! { " "<span class="tag">"private"</span> })}
                                                    <p>{r.description.clone()}</p>
                                                </li>
                                            }).collect_view()}
                                        </ul>
                                    }.into_any()
                                }}
                            </section>
                            <section aria-labelledby="group-members">
                                <h2 id="group-members">"Members"</h2>
                                <p class="note">"Members get a role in each of the group's repos (packager unless the repo's admins chose another). Members from the sign-in provider follow its groups claim at each sign-in."</p>
                                <table>
                                    <thead><tr><th scope="col">"User"</th><th scope="col">"From"</th>{v.can_manage.then(|| view! { <th scope="col"><span class="sr-only">"Actions"</span></th> })}</tr></thead>
                                    <tbody>
                                        {g.members.iter().map(|m| view! {
                                            <tr>
                                                <td>{m.username.clone()}</td>
                                                <td>{if m.source == "oidc" { "sign-in provider" } else { "site admin" }}</td>
                                                {v.can_manage.then(|| view! {
                                                    <td>
                                                        <form method="post" action=format!("{forms}/members/{}/remove", m.username) class="inline">
                                                            <Csrf token=v.csrf.clone()/>
                                                            <button type="submit" class="danger" aria-label=format!("Remove {} from the group", m.username)>"Remove"</button>
                                                        </form>
                                                    </td>
                                                })}
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                                {v.can_manage.then(|| view! {
                                    <form method="post" action=format!("{forms}/members") class="stack narrow-form">
                                        <Csrf token=v.csrf.clone()/>
                                        <label for="group-member">"Add a user"</label>
                                        <input id="group-member" name="username" required value=f.value("group-member", "username", "") aria-describedby="group-member-error"/>
                                        <FieldError id="group-member-error".into() message=f.field("group-member", "username")/>
                                        <button type="submit">"Add to the group"</button>
                                    </form>
                                })}
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
