use kiln_proto::Role;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::{settings_view, ConfigView, WebhookView};
use crate::components::{repo_params, Csrf, FieldError, LoadError, RepoTabs, Time};
use crate::forms::{format_macros, format_sources, Flash};
use crate::pages::access::{GroupRoleSection, ReadTokensSection};
use crate::pages::forge::ForgeSection;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let params = repo_params();
    let query = use_query_map();
    let key = move || {
        let (o, r) = params();
        (o, r, query.with(|m| m.get("user_q")))
    };
    let data = Resource::new(key, |(o, r, q)| settings_view(o, r, q));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => {
                        let r = v.head.repo.clone();
                        let can = v.head.can;
                        let csrf = v.head.csrf.clone();
                        let f = v.head.flash.clone();
                        let base = format!("/forms/r/{}/{}", r.owner, r.name);
                        let page = format!("/r/{}/{}/settings", r.owner, r.name);
                        view! {
                            <Title text=format!("Settings · {}", r.full_name)/>
                            <RepoTabs head=v.head.clone() current="settings"/>
                            {can.settings.then(|| view! {
                                <section aria-labelledby="general">
                                    <h2 id="general">"General"</h2>
                                    <form method="post" action=format!("{base}/settings") class="stack">
                                        <Csrf token=csrf.clone()/>
                                        <label for="description">"Description"</label>
                                        <textarea id="description" name="description" rows="3" aria-describedby="description-error">{f.value("general", "description", &r.description)}</textarea>
                                        <FieldError id="description-error".into() message=f.field("general", "description")/>
                                        <label for="keep-builds">"Keep the newest N builds of each package (0 = all)"</label>
                                        <input id="keep-builds" name="keep_builds" type="number" min="0" max="10000" aria-describedby="keep-builds-error"
                                            value=f.value("general", "keep_builds", &r.keep_builds.unwrap_or(0).to_string())/>
                                        <FieldError id="keep-builds-error".into() message=f.field("general", "keep_builds")/>
                                        <label for="keep-logs">"Remove build logs after D days (0 = never)"</label>
                                        <input id="keep-logs" name="keep_logs_days" type="number" min="0" max="36500" aria-describedby="keep-logs-error"
                                            value=f.value("general", "keep_logs_days", &r.keep_logs_days.unwrap_or(0).to_string())/>
                                        <FieldError id="keep-logs-error".into() message=f.field("general", "keep_logs_days")/>
                                        <label for="srpm-config">"Make SRPMs from git and URL sources in"</label>
                                        <select id="srpm-config" name="srpm_config" aria-describedby="srpm-config-error">
                                            <option value="" selected=r.srpm_config.is_none()>"the first mock config of each build"</option>
                                            {v.configs.iter().map(|c| {
                                                let name = c.config.name.clone();
                                                let selected = r.srpm_config.as_deref() == Some(name.as_str());
                                                view! { <option value=name.clone() selected=selected>{name.clone()}</option> }
                                            }).collect_view()}
                                        </select>
                                        <FieldError id="srpm-config-error".into() message=f.field("general", "srpm_config")/>
                                        <button type="submit">"Save"</button>
                                    </form>
                                </section>
                            })}
                            {can.delete_repo.then(|| {
                                let private = r.visibility == kiln_proto::Visibility::Private;
                                view! {
                                    <section aria-labelledby="visibility">
                                        <h2 id="visibility">"Visibility"</h2>
                                        {if private {
                                            view! {
                                                <p>"This repository is private: only its members and the site admins can see it."</p>
                                                <p class="warning">"Making it public shows everything in it to anyone: its builds and logs, its packages and their metadata, at once."</p>
                                            }.into_any()
                                        } else {
                                            view! { <p>"This repository is public. Made private, it answers 404 to everyone but its members and the site admins."</p> }.into_any()
                                        }}
                                        <form method="post" action=format!("{base}/visibility") class="inline">
                                            <Csrf token=csrf.clone()/>
                                            <input type="hidden" name="visibility" value=if private { "public" } else { "private" }/>
                                            <button type="submit" class=if private { "danger" } else { "secondary" }>{if private { "Make it public" } else { "Make it private" }}</button>
                                        </form>
                                    </section>
                                }
                            })}
                            <section aria-labelledby="configs">
                                <h2 id="configs">"Mock configs"</h2>
                                <p class="note">"Each config builds on a base chroot fixed by the site admin; its base repos cannot be changed here."</p>
                                {v.configs.iter().map(|c| view! { <ConfigForm c=c.clone() base=base.clone() csrf=csrf.clone() flash=f.clone() editable=can.mock_configs/> }).collect_view()}
                                {can.mock_configs.then(|| view! {
                                    <h3>"New mock config"</h3>
                                    <form method="post" action=format!("{base}/mock-configs") class="stack narrow-form">
                                        <Csrf token=csrf.clone()/>
                                        <label for="config-base">"Base chroot"</label>
                                        <select id="config-base" name="base" required>
                                            {v.bases.iter().map(|b| view! { <option value=b.name.clone() selected=f.value("new-config", "base", "") == b.name>{b.name.clone()}</option> }).collect_view()}
                                        </select>
                                        <FieldError id="config-base-error".into() message=f.field("new-config", "base")/>
                                        <label for="config-name">"Name"</label>
                                        <input id="config-name" name="name" required value=f.value("new-config", "name", "") aria-describedby="config-name-error"/>
                                        <FieldError id="config-name-error".into() message=f.field("new-config", "name")/>
                                        <button type="submit">"Add mock config"</button>
                                    </form>
                                })}
                            </section>
                            {(can.createrepo || can.rotate_key).then(|| view! {
                                <section aria-labelledby="publishing">
                                    <h2 id="publishing">"Publishing"</h2>
                                    <div class="actions">
                                        {can.createrepo.then(|| view! {
                                            <form method="post" action=format!("{base}/createrepo") class="inline">
                                                <Csrf token=csrf.clone()/>
                                                <button type="submit" class="secondary">"Regenerate metadata"</button>
                                            </form>
                                        })}
                                        {can.rotate_key.then(|| view! {
                                            <form method="post" action=format!("{base}/key/rotate") class="inline">
                                                <Csrf token=csrf.clone()/>
                                                <button type="submit" class="secondary">"Rotate the signing key"</button>
                                            </form>
                                        })}
                                    </div>
                                </section>
                            })}
                            {can.members.then(|| view! {
                                <section aria-labelledby="members">
                                    <h2 id="members">"Members"</h2>
                                    <table>
                                        <thead><tr><th scope="col">"User"</th><th scope="col">"Role"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                                        <tbody>
                                            {v.members.iter().map(|m| {
                                                let label = format!("Role of {}", m.username);
                                                let id = format!("role-{}", m.username);
                                                view! {
                                                    <tr>
                                                        <td>{m.username.clone()}</td>
                                                        <td>
                                                            <form method="post" action=format!("{base}/members") class="inline role-form">
                                                                <Csrf token=csrf.clone()/>
                                                                <input type="hidden" name="username" value=m.username.clone()/>
                                                                <label for=id.clone() class="sr-only">{label}</label>
                                                                <RoleSelect id=id selected=m.role/>
                                                                <button type="submit" class="secondary">"Change"</button>
                                                            </form>
                                                        </td>
                                                        <td>
                                                            <form method="post" action=format!("{base}/members/{}/remove", m.username) class="inline">
                                                                <Csrf token=csrf.clone()/>
                                                                <button type="submit" class="danger" aria-label=format!("Remove {}", m.username)>"Remove"</button>
                                                            </form>
                                                        </td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                    <h3>"Add a member"</h3>
                                    <form method="get" action=page.clone() class="search" role="search" aria-label="Find a user">
                                        <label for="user-q">"Find a user by name"</label>
                                        <input id="user-q" name="user_q" type="search" value=query.with(|m| m.get("user_q")).unwrap_or_default()/>
                                        <button type="submit" class="secondary">"Find"</button>
                                    </form>
                                    {(!v.found.is_empty()).then(|| view! {
                                        <p class="note">"Found: "{v.found.iter().map(|u| u.username.clone()).collect::<Vec<_>>().join(", ")}</p>
                                    })}
                                    <form method="post" action=format!("{base}/members") class="stack narrow-form" id="add-member">
                                        <Csrf token=csrf.clone()/>
                                        <label for="member-username">"Username"</label>
                                        <input id="member-username" name="username" required list="user-suggestions" autocomplete="off"
                                            value=f.value("member", "username", v.found.first().map(|u| u.username.as_str()).unwrap_or("")) aria-describedby="member-username-error"/>
                                        <datalist id="user-suggestions">
                                            {v.found.iter().map(|u| view! { <option value=u.username.clone()>{u.display_name.clone().unwrap_or_default()}</option> }).collect_view()}
                                        </datalist>
                                        <FieldError id="member-username-error".into() message=f.field("member", "username")/>
                                        <label for="member-role">"Role"</label>
                                        <RoleSelect id="member-role".into() selected=Role::Packager/>
                                        <button type="submit">"Add member"</button>
                                    </form>
                                </section>
                            })}
                            {can.webhooks.then(|| view! {
                                <section aria-labelledby="webhooks">
                                    <h2 id="webhooks">"Webhooks"</h2>
                                    <p class="note">"Each event of this repository (builds submitted, started, ended and published; settings and members changed) is POSTed as JSON, signed in "<code>"X-Kiln-Signature"</code>" (HMAC-SHA256 under the webhook's secret). A receiver that is down gets them later, in order."</p>
                                    {v.webhooks.iter().map(|w| view! { <WebhookItem w=w.clone() base=base.clone() csrf=csrf.clone()/> }).collect_view()}
                                    <h3>"New webhook"</h3>
                                    <form method="post" action=format!("{base}/webhooks") class="stack narrow-form">
                                        <Csrf token=csrf.clone()/>
                                        <label for="webhook-url">"Payload URL"</label>
                                        <input id="webhook-url" name="url" type="url" required placeholder="https://ci.example.org/kiln" value=f.value("webhook", "url", "") aria-describedby="webhook-url-error"/>
                                        <FieldError id="webhook-url-error".into() message=f.field("webhook", "url")/>
                                        <button type="submit">"Add webhook"</button>
                                    </form>
                                </section>
                            })}
                            {v.read_tokens.clone().map(|tokens| {
                                let forms = format!("/forms/r/{}/{}", r.owner, r.name);
                                let private = r.visibility == kiln_proto::Visibility::Private;
                                view! { <ReadTokensSection tokens=tokens private=private forms=forms csrf=csrf.clone() flash=f.clone()/> }
                            })}
                            {r.group_role.filter(|_| can.members).map(|role| {
                                let forms = format!("/forms/r/{}/{}", r.owner, r.name);
                                view! { <GroupRoleSection group=r.owner.clone() role=role forms=forms csrf=csrf.clone()/> }
                            })}
                            {v.forge.clone().map(|(hook, log)| {
                                let forms = format!("/forms/r/{}/{}", r.owner, r.name);
                                let builds = format!("/r/{}/{}/builds", r.owner, r.name);
                                view! { <ForgeSection hook=hook log=log forms=forms builds=builds csrf=csrf.clone() flash=f.clone()/> }
                            })}
                            {can.delete_repo.then(|| view! {
                                <section aria-labelledby="danger" class="danger-zone">
                                    <h2 id="danger">"Danger zone"</h2>
                                    <p>"Deleting the repository removes its builds, packages and published files. This cannot be undone."</p>
                                    <form method="post" action=format!("{base}/delete") class="stack narrow-form">
                                        <Csrf token=csrf.clone()/>
                                        <label for="confirm">{format!("Type {} to confirm", r.full_name)}</label>
                                        <input id="confirm" name="confirm" required autocomplete="off" aria-describedby="confirm-error"/>
                                        <FieldError id="confirm-error".into() message=f.field("delete", "confirm")/>
                                        <button type="submit" class="danger">"Delete this repository"</button>
                                    </form>
                                </section>
                            })}
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A webhook: its URL, its latest deliveries, "send test" and "delete".
#[component]
fn WebhookItem(w: WebhookView, base: String, csrf: String) -> impl IntoView {
    let hook = w.webhook;
    let action = format!("{base}/webhooks/{}", hook.id);
    let title = format!("webhook-{}", hook.id);
    let labelled_by = title.clone();
    view! {
        <article class="webhook" aria-labelledby=labelled_by>
            <h3 id=title><code>{hook.url.clone()}</code></h3>
            {if w.deliveries.is_empty() {
                view! { <p class="muted">"Nothing sent yet."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <caption class="sr-only">{format!("Latest deliveries to {}", hook.url)}</caption>
                        <thead><tr><th scope="col">"Event"</th><th scope="col">"State"</th><th scope="col">"Attempts"</th><th scope="col">"Response"</th><th scope="col">"Created"</th></tr></thead>
                        <tbody>
                            {w.deliveries.into_iter().map(|d| view! {
                                <tr>
                                    <td><code>{d.topic}</code></td>
                                    <td><span class=match d.state.as_str() {
                                        "succeeded" => "state ok",
                                        "failed" => "state bad",
                                        _ => "state wait",
                                    }>{d.state.clone()}</span></td>
                                    <td>{d.attempts}</td>
                                    <td>{match (d.response_code, d.error) {
                                        (_, Some(e)) => e,
                                        (Some(c), None) => c.to_string(),
                                        (None, None) => String::new(),
                                    }}</td>
                                    <td><Time t=d.created_at/></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <div class="actions">
                <form method="post" action=format!("{action}/test") class="inline">
                    <Csrf token=csrf.clone()/>
                    <button type="submit" class="secondary" aria-label=format!("Send a test to {}", hook.url)>"Send test"</button>
                </form>
                <form method="post" action=format!("{action}/delete") class="inline">
                    <Csrf token=csrf/>
                    <button type="submit" class="danger" aria-label=format!("Delete the webhook to {}", hook.url)>"Delete"</button>
                </form>
            </div>
        </article>
    }
}

#[component]
fn RoleSelect(id: String, selected: Role) -> impl IntoView {
    view! {
        <select id=id name="role">
            {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == selected>{r.as_str()}</option> }).collect_view()}
        </select>
    }
}

/// One mock config: its settings (a form for rel-eng) and the rendered config.
#[component]
fn ConfigForm(
    c: ConfigView,
    base: String,
    csrf: String,
    flash: Flash,
    editable: bool,
) -> impl IntoView {
    let cfg = c.config;
    let form = format!("config-{}", cfg.name);
    let id = |s: &str| format!("{}-{s}", form);
    let action = format!("{base}/mock-configs/{}", cfg.name);
    let f = flash;
    view! {
        <article class="config" id=form.clone() aria-labelledby=id("title")>
            <h3 id=id("title")>{cfg.name.clone()}" "<span class="muted">{format!("on {} ({})", cfg.base, cfg.arch)}</span>
                {(!cfg.enabled).then(|| view! { " " <span class="tag">"disabled"</span> })}</h3>
            {editable.then(|| view! {
                <form method="post" action=action.clone() class="stack">
                    <Csrf token=csrf.clone()/>
                    <label for=id("repos")>"Extra repos: "<code>"ID URL [priority=N] [gpgkey=URL]"</code>", one per line"</label>
                    <textarea id=id("repos") name="extra_repos" rows="3" aria-describedby=id("repos-error")>{f.value(&form, "extra_repos", &format_sources(&cfg.extra_repos))}</textarea>
                    <FieldError id=id("repos-error") message=f.field(&form, "extra_repos")/>
                    <label for=id("add")>"Add to the buildroot (package names)"</label>
                    <input id=id("add") name="buildroot_add" value=f.value(&form, "buildroot_add", &cfg.buildroot_add.join(" ")) aria-describedby=id("add-error")/>
                    <FieldError id=id("add-error") message=f.field(&form, "buildroot_add")/>
                    <label for=id("remove")>"Remove from the buildroot"</label>
                    <input id=id("remove") name="buildroot_remove" value=f.value(&form, "buildroot_remove", &cfg.buildroot_remove.join(" ")) aria-describedby=id("remove-error")/>
                    <FieldError id=id("remove-error") message=f.field(&form, "buildroot_remove")/>
                    <label for=id("macros")>"Macros: "<code>"%name value"</code>", one per line"</label>
                    <textarea id=id("macros") name="macros" rows="3" aria-describedby=id("macros-error")>{f.value(&form, "macros", &format_macros(&cfg.macros))}</textarea>
                    <FieldError id=id("macros-error") message=f.field(&form, "macros")/>
                    <div class="check">
                        <input type="checkbox" id=id("own") name="include_own_repo" value="1" checked=cfg.include_own_repo/>
                        <label for=id("own")>"Build against this repository's own packages"</label>
                    </div>
                    <div class="check">
                        <input type="checkbox" id=id("enabled") name="enabled" value="1" checked=cfg.enabled/>
                        <label for=id("enabled")>"Enabled (new builds use it)"</label>
                    </div>
                    <div class="check">
                        <input type="checkbox" id=id("nocheck") name="nocheck" value="1" checked=cfg.nocheck/>
                        <label for=id("nocheck")>"Skip "<code>"%check"</code>" in every build (--nocheck)"</label>
                    </div>
                    <div class="actions">
                        <button type="submit">{format!("Save {}", cfg.name)}</button>
                    </div>
                </form>
                <form method="post" action=format!("{action}/delete") class="inline">
                    <Csrf token=csrf.clone()/>
                    <button type="submit" class="danger">{format!("Delete {}", cfg.name)}</button>
                </form>
            })}
            <details>
                <summary>"Rendered mock config"</summary>
                <pre class="rendered"><code>{c.rendered}</code></pre>
            </details>
        </article>
    }
}
