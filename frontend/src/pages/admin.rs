use kiln_proto::agent::{AgentState, BuilderPool};
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::admin_view;
use crate::components::{Csrf, FieldError, FlashBox, LoadError, Time};
use crate::forms::format_sources;

fn state_name(s: AgentState) -> &'static str {
    match s {
        AgentState::Online => "online",
        AgentState::Draining => "draining",
        AgentState::Disabled => "disabled",
    }
}

/// A builder pool: its settings, its provider's health and its builders (the live ones, then
/// the last five ended).
#[component]
fn PoolView(p: BuilderPool) -> impl IntoView {
    let title = format!("pool-{}", p.name);
    let labelled_by = title.clone();
    let live = p
        .builders
        .iter()
        .filter(|b| !matches!(b.state.as_str(), "released" | "failed"))
        .count();
    let shown: Vec<_> = p.builders.into_iter().take(live + 5).collect();
    view! {
        <article class="pool" aria-labelledby=labelled_by>
            <h3 id=title>{p.name.clone()}" "<span class="muted">{format!("{} · {} · {} to {} builders", p.provider, p.arches.join(", "), p.min_idle, p.max)}</span></h3>
            {match (&p.last_error, p.failures) {
                (Some(e), n) if n > 0 => view! {
                    <p class="error" role="status">{format!("The provider failed {n} time{} in a row: {e}", if n == 1 { "" } else { "s" })}
                        {p.next_attempt_at.map(|t| view! { " Next attempt " <Time t=t/> "." })}</p>
                }.into_any(),
                _ => view! { <p class="muted">"The provider works."</p> }.into_any(),
            }}
            {if shown.is_empty() {
                view! { <p class="empty">"No builders."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <caption class="sr-only">{format!("Builders of the pool {}", p.name)}</caption>
                        <thead><tr><th scope="col">"Builder"</th><th scope="col">"Arch"</th><th scope="col">"State"</th><th scope="col">"Provider id"</th><th scope="col">"Started"</th><th scope="col">"Why it ended"</th></tr></thead>
                        <tbody>
                            {shown.into_iter().map(|b| view! {
                                <tr>
                                    <td>{b.name}</td>
                                    <td>{b.arch}</td>
                                    <td><span class=match b.state.as_str() {
                                        "running" => "state ok",
                                        "failed" => "state bad",
                                        "allocating" | "draining" => "state run",
                                        _ => "state off",
                                    }>{b.state.clone()}</span></td>
                                    <td><code>{b.provider_id.unwrap_or_default()}</code></td>
                                    <td><Time t=b.created_at/></td>
                                    <td>{b.reason.unwrap_or_default()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </article>
    }
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| admin_view());
    view! {
        <Title text="Site admin"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => {
                        let f = v.flash.clone();
                        let csrf = v.csrf.clone();
                        let now = time::OffsetDateTime::now_utc();
                        view! {
                            <h1>"Site admin"</h1>
                            <FlashBox flash=v.flash.clone()/>
                            <section aria-labelledby="agents">
                                <h2 id="agents">"Builder agents"</h2>
                                {if v.agents.is_empty() {
                                    view! { <p class="empty">"No agents have registered."</p> }.into_any()
                                } else {
                                    view! {
                                        <table>
                                            <thead><tr><th scope="col">"Agent"</th><th scope="col">"Arches"</th><th scope="col">"State"</th><th scope="col">"Building"</th><th scope="col">"Last seen"</th><th scope="col">"Change state"</th></tr></thead>
                                            <tbody>
                                                {v.agents.iter().map(|a| {
                                                    let gone = (now - a.last_seen_at).whole_seconds() > v.stale_after;
                                                    let id = format!("agent-state-{}", a.name);
                                                    view! {
                                                        <tr data-agent=a.name.clone()>
                                                            <td>{a.name.clone()}<br/><span class="muted">{format!("{} × {}, {}", a.capacity, a.backend, a.version)}</span></td>
                                                            <td>{a.arches.join(", ")}</td>
                                                            <td>{state_name(a.state)}{gone.then(|| view! { " " <span class="tag">"not responding"</span> })}</td>
                                                            <td class="work">{if a.work.is_empty() {
                                                                view! { <span class="muted">"idle"</span> }.into_any()
                                                            } else {
                                                                view! { <ul class="plain">{a.work.iter().map(|w| view! {
                                                                    <li><a href=format!("/r/{}/builds/{}", w.repo, w.parent_id)>{format!("{} #{}", w.repo, w.parent_id)}</a>" "<span class="muted">{format!("{} on {}", w.file_name, w.mock_config)}</span></li>
                                                                }).collect_view()}</ul> }.into_any()
                                                            }}</td>
                                                            <td><Time t=a.last_seen_at/></td>
                                                            <td>
                                                                <form method="post" action=format!("/forms/admin/agents/{}/state", a.name) class="inline">
                                                                    <Csrf token=csrf.clone()/>
                                                                    <label for=id.clone() class="sr-only">{format!("State of {}", a.name)}</label>
                                                                    <select id=id name="state">
                                                                        {[AgentState::Online, AgentState::Draining, AgentState::Disabled].into_iter().map(|s| view! {
                                                                            <option value=state_name(s) selected=s == a.state>{state_name(s)}</option>
                                                                        }).collect_view()}
                                                                    </select>
                                                                    <button type="submit" class="secondary">"Set"</button>
                                                                </form>
                                                            </td>
                                                        </tr>
                                                    }
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any()
                                }}
                            </section>
                            {(!v.pools.is_empty()).then(|| view! {
                                <section aria-labelledby="pools">
                                    <h2 id="pools">"Builder pools"</h2>
                                    {v.pools.iter().map(|p| view! { <PoolView p=p.clone()/> }).collect_view()}
                                </section>
                            })}
                            <section aria-labelledby="agent-tokens">
                                <h2 id="agent-tokens">"Registration tokens"</h2>
                                <p class="note">"An agent trades a registration token for its own credential: "<code>"kiln-agent --server URL"</code>" with "<code>"KILN_AGENT_REGISTRATION_TOKEN"</code>" set."</p>
                                {(!v.tokens.is_empty()).then(|| view! {
                                    <table>
                                        <thead><tr><th scope="col">"Name"</th><th scope="col">"Created"</th><th scope="col">"Agents"</th><th scope="col">"State"</th></tr></thead>
                                        <tbody>
                                            {v.tokens.iter().map(|t| view! {
                                                <tr>
                                                    <td>{t.name.clone()}</td>
                                                    <td><Time t=t.created_at/>{t.created_by.clone().map(|b| format!(" by {b}"))}</td>
                                                    <td>{t.agents}</td>
                                                    <td>{match t.revoked_at {
                                                        Some(_) => view! { <span class="tag">"revoked"</span> }.into_any(),
                                                        None => view! {
                                                            <form method="post" action=format!("/forms/admin/agent-tokens/{}/revoke", t.id) class="inline">
                                                                <Csrf token=csrf.clone()/>
                                                                <button type="submit" class="danger" aria-label=format!("Revoke {}", t.name)>"Revoke"</button>
                                                            </form>
                                                        }.into_any(),
                                                    }}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                })}
                                <form method="post" action="/forms/admin/agent-tokens" class="stack narrow-form">
                                    <Csrf token=csrf.clone()/>
                                    <label for="agent-token-name">"Name"</label>
                                    <input id="agent-token-name" name="name" required value=f.value("agent-token", "name", "") aria-describedby="agent-token-name-error"/>
                                    <FieldError id="agent-token-name-error".into() message=f.field("agent-token", "name")/>
                                    <button type="submit">"Create registration token"</button>
                                </form>
                            </section>
                            <section aria-labelledby="chroots">
                                <h2 id="chroots">"Base chroots"</h2>
                                {v.chroots.iter().map(|c| {
                                    let form = format!("chroot-{}", c.name);
                                    let id = |s: &str| format!("{form}-{s}");
                                    view! {
                                        <details class="config" id=form.clone() open=f.form.as_deref() == Some(form.as_str())>
                                            <summary>{c.name.clone()}" "<span class="muted">{c.dist_macro.clone()}</span>{(!c.enabled).then(|| view! { " " <span class="tag">"disabled"</span> })}</summary>
                                            <form method="post" action=format!("/forms/admin/chroots/{}", c.name) class="stack">
                                                <Csrf token=csrf.clone()/>
                                                <label for=id("repos")>"Base repos: "<code>"ID URL [priority=N] [gpgkey=URL]"</code></label>
                                                <textarea id=id("repos") name="base_repos" rows="3" aria-describedby=id("repos-error")>{f.value(&form, "base_repos", &format_sources(&c.base_repos))}</textarea>
                                                <FieldError id=id("repos-error") message=f.field(&form, "base_repos")/>
                                                <label for=id("dist")>"%dist"</label>
                                                <input id=id("dist") name="dist_macro" value=f.value(&form, "dist_macro", &c.dist_macro)/>
                                                <FieldError id=id("dist-error") message=f.field(&form, "dist_macro")/>
                                                <div class="check">
                                                    <input type="checkbox" id=id("enabled") name="enabled" value="1" checked=c.enabled/>
                                                    <label for=id("enabled")>"Enabled"</label>
                                                </div>
                                                <button type="submit">{format!("Save {}", c.name)}</button>
                                            </form>
                                        </details>
                                    }
                                }).collect_view()}
                                <h3>"New base chroot"</h3>
                                <form method="post" action="/forms/admin/chroots" class="stack narrow-form">
                                    <Csrf token=csrf.clone()/>
                                    <label for="chroot-name">"Name (DISTRO-RELEASE-ARCH)"</label>
                                    <input id="chroot-name" name="name" required value=f.value("new-chroot", "name", "") aria-describedby="chroot-name-error"/>
                                    <FieldError id="chroot-name-error".into() message=f.field("new-chroot", "name")/>
                                    <label for="chroot-repos">"Base repos"</label>
                                    <textarea id="chroot-repos" name="base_repos" rows="3" aria-describedby="chroot-repos-error">{f.value("new-chroot", "base_repos", "")}</textarea>
                                    <FieldError id="chroot-repos-error".into() message=f.field("new-chroot", "base_repos")/>
                                    <label for="chroot-dist">"%dist (optional)"</label>
                                    <input id="chroot-dist" name="dist_macro" value=f.value("new-chroot", "dist_macro", "")/>
                                    <button type="submit">"Add base chroot"</button>
                                </form>
                            </section>
                            <section aria-labelledby="groups">
                                <h2 id="groups">"Groups"</h2>
                                <p class="note">"Groups own repos as @NAME; their members get a role in them. Groups from the sign-in provider's groups claim appear at their members' sign-in; local groups are made here."</p>
                                <ul class="plain">
                                    {v.groups.iter().map(|g| view! {
                                        <li><a href=format!("/groups/{}", g.name)>{g.owner.clone()}</a>" "<span class="muted">{format!("{} member{}", g.members.len(), if g.members.len() == 1 { "" } else { "s" })}</span></li>
                                    }).collect_view()}
                                </ul>
                                <form method="post" action="/forms/groups" class="stack narrow-form">
                                    <Csrf token=csrf.clone()/>
                                    <label for="group-name">"New local group"</label>
                                    <input id="group-name" name="name" required value=f.value("group", "name", "") aria-describedby="group-name-error"/>
                                    <FieldError id="group-name-error".into() message=f.field("group", "name")/>
                                    <button type="submit">"Create group"</button>
                                </form>
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
