use kiln_proto::{PublishState, TaskState};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::build_view;
use crate::components::{duration, human_size, Csrf, LoadError, RepoTabs, StateBadge, Time};

#[component]
pub fn BuildPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        params.with(|p| {
            (
                p.get("owner").unwrap_or_default(),
                p.get("repo").unwrap_or_default(),
                p.get("id").and_then(|i| i.parse::<i32>().ok()).unwrap_or(0),
            )
        })
    };
    let data = Resource::new(key, |(o, r, id)| build_view(o, r, id));
    let refresh = Callback::new(move |_: ()| data.refetch());
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => {
                        let t = v.task.clone();
                        let r = v.head.repo.clone();
                        let can = v.head.can;
                        let csrf = v.head.csrf.clone();
                        let live = !t.state.is_final();
                        let publish = match t.publish_state {
                            PublishState::Waiting => "waiting for builds",
                            PublishState::Pending => "publishing",
                            PublishState::Published => "published",
                            PublishState::NotPublished => "not published",
                            PublishState::Failed => "publishing failed",
                        };
                        let any_failed = t.subtasks.iter().any(|s| matches!(s.state, TaskState::Failed | TaskState::Canceled));
                        view! {
                            <Title text=format!("Build {} · {}", t.id, r.full_name)/>
                            <RepoTabs head=v.head.clone() current="builds"/>
                            <h2 class="build-title">{format!("Build #{} ", t.id)}<StateBadge state=t.state/>
                                {t.scratch.then(|| view! { " " <span class="tag">"scratch"</span> })}</h2>
                            <dl class="facts">
                                <dt>"Submitted"</dt><dd><Time t=t.created_at/>{t.submitter.clone().map(|s| format!(" by {s}"))}</dd>
                                <dt>"Took"</dt><dd>{duration(t.started_at, t.finished_at)}</dd>
                                <dt>"Repository"</dt><dd data-publish=publish>{publish}</dd>
                                {t.source.clone().map(|o| view! {
                                    <dt>"Source"</dt><dd class="source"><code>{o.source.display()}</code>
                                        {o.commit.map(|c| view! { <br/>"commit "<code class="commit">{c}</code> })}
                                        {o.sha256.map(|h| view! { <br/><span class="muted">{format!("SHA-256 {h}")}</span> })}</dd>
                                })}
                            </dl>
                            <div class="actions">
                                {(can.cancel && live).then(|| view! {
                                    <form method="post" action=format!("/forms/tasks/{}/cancel", t.id) class="inline">
                                        <Csrf token=csrf.clone()/>
                                        <button type="submit" class="danger">"Cancel build"</button>
                                    </form>
                                })}
                                {(can.resubmit && !live).then(|| view! {
                                    <form method="post" action=format!("/forms/tasks/{}/resubmit", t.id) class="inline">
                                        <Csrf token=csrf.clone()/>
                                        {any_failed.then(|| view! {
                                            <input type="checkbox" id="only-failed" name="only_failed" value="1"/>
                                            <label for="only-failed">"only the failed ones"</label>" "
                                        })}
                                        <button type="submit" class="secondary">"Resubmit"</button>
                                    </form>
                                })}
                                {(can.delete_build && !live).then(|| view! {
                                    <form method="post" action=format!("/forms/r/{}/{}/builds/{}/delete", r.owner, r.name, t.id) class="inline">
                                        <Csrf token=csrf.clone()/>
                                        <button type="submit" class="danger">"Delete build"</button>
                                    </form>
                                })}
                            </div>
                            <section aria-labelledby="subtasks">
                                <h3 id="subtasks">"Builds per mock config"</h3>
                                <table class="subtasks">
                                    <thead><tr><th scope="col">"Mock config"</th><th scope="col">"State"</th><th scope="col">"Package"</th><th scope="col">"Agent"</th><th scope="col">"Took"</th><th scope="col">"Files"</th></tr></thead>
                                    <tbody>
                                        {t.subtasks.iter().map(|s| view! {
                                            <tr>
                                                <td>{s.mock_config.clone()}<br/><span class="muted">{s.arch.clone()}</span></td>
                                                <td><StateBadge state=s.state/>
                                                    {s.failure_stage.map(|stage| view! { <p class="stage">"failed in "<code>{stage.as_str()}</code></p> })}
                                                    {s.reason.clone().map(|why| view! { <p class="reason">{why}</p> })}
                                                    {s.nocheck.then(|| view! { <p class="muted">"%check skipped (--nocheck)"</p> })}
                                                    {(s.attempt > 1).then(|| view! { <p class="muted">{format!("attempt {}", s.attempt)}</p> })}</td>
                                                <td>{(s.kind == kiln_proto::SubtaskKind::Srpm).then(|| view! { <span class="tag">"SRPM step"</span>" " })}
                                                    {s.package.as_ref().map(|p| format!("{}-{}-{}", p.name, p.version, p.release)).or(s.file_name.clone())}</td>
                                                <td>{s.agent.clone().unwrap_or_else(|| "—".into())}
                                                    {s.backend.clone().map(|b| view! { <p class="muted backend">{b}</p> })}</td>
                                                <td>{duration(s.started_at, s.finished_at)}</td>
                                                <td><ul class="artifacts">
                                                    {s.artifacts.iter().map(|a| view! {
                                                        <li><a href=a.url.clone() download>{a.file_name.clone()}</a>" "<span class="muted">{human_size(a.size)}</span></li>
                                                    }).collect_view()}
                                                </ul></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                            <section aria-labelledby="log">
                                <h3 id="log">"Log"</h3>
                                {match v.log_gone.clone() {
                                    Some(why) => view! { <p class="note">{why}</p> }.into_any(),
                                    None => view! {
                                        {(v.log_cut.0 > 0).then(|| view! {
                                            <p class="note" id="log-cut">{format!(
                                                "The first {} lines ({}) of the log are not shown here; ",
                                                v.log_cut.0,
                                                human_size(v.log_cut.1 as i64),
                                            )}<a href=format!("/api/v1/tasks/{}/log", t.id)>"read the whole log"</a>"."</p>
                                        })}
                                        <p class="muted"><a href=format!("/api/v1/tasks/{}/log", t.id)>"The whole log as plain text"</a></p>
                                        <LogPane id=t.id initial=v.log.clone() live=live on_end=refresh/>
                                    }.into_any(),
                                }}
                            </section>
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// The build log: the text so far from the server; with JavaScript, followed live (server-sent
/// events) until the build ends, then `on_end` reloads the page's data.
#[component]
fn LogPane(id: i32, initial: String, live: bool, on_end: Callback<()>) -> impl IntoView {
    let text = RwSignal::new(initial);
    let following = RwSignal::new(false);
    Effect::new(move |_| {
        if live {
            follow(id, text, following, on_end);
        }
    });
    view! {
        <p class="muted" aria-live="polite">{move || if following.get() { "following the log live…" } else if live { "the build is not finished: reload for more" } else { "" }}</p>
        <pre class="log" id="build-log" tabindex="0" aria-label="Build log" data-following=move || following.get().to_string()>{move || text.get()}</pre>
    }
}

fn follow(id: i32, text: RwSignal<String>, following: RwSignal<bool>, on_end: Callback<()>) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    let Ok(es) = web_sys::EventSource::new(&format!("/api/v1/tasks/{id}/log?follow=1")) else {
        return;
    };
    following.set(true);
    // The stream starts from the beginning: it replaces what the server rendered.
    let fresh = std::rc::Rc::new(std::cell::Cell::new(true));
    let fresh_again = fresh.clone();
    let on_log =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
            let chunk = e.data().as_string().unwrap_or_default();
            let reset = fresh.replace(false);
            text.update(|t| {
                if reset {
                    t.clear();
                }
                t.push_str(&chunk);
                t.push('\n');
            });
        });
    // A reconnection replays the log from its start too.
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        fresh_again.set(true);
    });
    let _ = es.add_event_listener_with_callback("open", on_open.as_ref().unchecked_ref());
    on_open.forget();
    let _ = es.add_event_listener_with_callback("log", on_log.as_ref().unchecked_ref());
    on_log.forget();
    let es_end = es.clone();
    let on_done = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        es_end.close();
        following.set(false);
        on_end.run(());
    });
    let _ = es.add_event_listener_with_callback("end", on_done.as_ref().unchecked_ref());
    on_done.forget();
    let stored = StoredValue::new_local(es);
    on_cleanup(move || stored.with_value(|es| es.close()));
}
