use kiln_proto::MockConfig;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::upload_view;
use crate::components::{human_size, repo_params, LoadError, RepoTabs};
use crate::forms::Flash;

#[component]
pub fn UploadPage() -> impl IntoView {
    let data = Resource::new(repo_params(), |(o, r)| upload_view(o, r));
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => {
                        let r = v.head.repo.clone();
                        view! {
                            <Title text=format!("Upload · {}", r.full_name)/>
                            <RepoTabs head=v.head.clone() current="upload"/>
                            {if v.head.can.submit {
                                view! {
                                    <UploadForm owner=r.owner.clone() repo=r.name.clone() csrf=v.head.csrf.clone()
                                        configs=v.mock_configs.clone() max_size=v.max_size flash=v.head.flash.clone()/>
                                    <SourceForm owner=r.owner.clone() repo=r.name.clone() csrf=v.head.csrf.clone()
                                        configs=v.mock_configs.clone() flash=v.head.flash.clone()/>
                                }.into_any()
                            } else {
                                view! { <p class="error" role="alert">"Uploading needs the packager role in this repository."</p> }.into_any()
                            }}
                        }.into_any()
                    }
                    Err(e) => view! { <LoadError error=e/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

thread_local! {
    static FILES: std::cell::RefCell<Vec<web_sys::File>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[derive(Clone, PartialEq)]
enum Status {
    Queued,
    Uploading,
    /// The build (parent task) it became.
    Done(i64),
    Failed(String),
}

/// One chosen file; the browser's `File` object stays in `FILES` under `key` (it cannot be
/// shared between threads, and the server renders with several).
#[derive(Clone)]
struct Item {
    key: u32,
    name: String,
    size: f64,
    progress: RwSignal<f64>,
    status: RwSignal<Status>,
}

/// Without JavaScript: one multipart form post of every file. With it: each file is uploaded
/// on its own (one build each), with a progress bar and its own result or error.
#[component]
fn UploadForm(
    owner: String,
    repo: String,
    csrf: String,
    configs: Vec<MockConfig>,
    max_size: u64,
    flash: Flash,
) -> impl IntoView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let items: RwSignal<Vec<Item>> = RwSignal::new(Vec::new());
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    let add = move |list: Option<web_sys::FileList>| {
        let Some(list) = list else { return };
        items.update(|v| {
            for i in 0..list.length() {
                if let Some(f) = list.item(i) {
                    let key = FILES.with(|m| {
                        let mut m = m.borrow_mut();
                        let key = m.len() as u32;
                        m.push(f.clone());
                        key
                    });
                    v.push(Item {
                        name: f.name(),
                        size: f.size(),
                        key,
                        progress: RwSignal::new(0.0),
                        status: RwSignal::new(Status::Queued),
                    });
                }
            }
        });
    };
    let on_change = move |ev: web_sys::Event| {
        use wasm_bindgen::JsCast;
        let input = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(input) = input {
            add(input.files());
            input.set_value("");
        }
    };
    let on_drop = move |ev: web_sys::DragEvent| {
        ev.prevent_default();
        add(ev.data_transfer().and_then(|d| d.files()));
    };
    let api = format!("/api/v1/repos/{owner}/{repo}/builds");
    let token = csrf.clone();
    let on_submit = move |ev: web_sys::SubmitEvent| {
        use wasm_bindgen::JsCast;
        ev.prevent_default();
        let queue: Vec<Item> = items.with(|v| {
            v.iter()
                .filter(|i| i.status.get_untracked() == Status::Queued)
                .cloned()
                .collect()
        });
        if queue.is_empty() {
            problem.set(Some("Choose at least one .src.rpm file.".into()));
            return;
        }
        problem.set(None);
        let Some(form) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
        else {
            return;
        };
        busy.set(true);
        upload_next(api.clone(), token.clone(), form, queue, busy);
    };
    let action = format!("/forms/r/{owner}/{repo}/upload?csrf_token={csrf}");
    let file_errors: Vec<(String, String)> = flash
        .fields
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("file:").map(|n| (n.to_owned(), v.clone())))
        .collect();
    let general = flash.field("upload", "srpm");
    let any_chosen = flash.form.as_deref() == Some("upload");
    let enabled: Vec<MockConfig> = configs.into_iter().filter(|c| c.enabled).collect();
    view! {
        <form method="post" enctype="multipart/form-data" action=action class="stack upload" on:submit=on_submit>
            {general.map(|e| view! { <p class="error" role="alert" id="upload-error">{e}</p> })}
            {move || problem.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {(!file_errors.is_empty()).then(|| view! {
                <ul class="files">
                    {file_errors.into_iter().map(|(name, err)| view! {
                        <li class="file failed"><span class="name">{name}</span><p class="field-error" role="alert">{err}</p></li>
                    }).collect_view()}
                </ul>
            })}
            <div class="drop" on:dragover=|e: web_sys::DragEvent| e.prevent_default() on:drop=on_drop>
                <label for="srpm">"Source RPMs (.src.rpm)"<span class="muted" aria-hidden="true">{move || if hydrated.get() { " — choose files or drop them here" } else { "" }}</span></label>
                <input id="srpm" name="srpm" type="file" multiple accept=".rpm,.src.rpm" on:change=on_change
                    aria-describedby="srpm-help"/>
                <p class="help" id="srpm-help">{format!("Each file becomes its own build; at most {} each.", human_size(max_size as i64))}</p>
            </div>
            <ul class="files" aria-live="polite">
                {move || items.with(|v| v.iter().map(|it| {
                    let name = it.name.clone();
                    let label = format!("Upload of {name}");
                    let (progress, status) = (it.progress, it.status);
                    let (owner, repo) = (owner.clone(), repo.clone());
                    view! {
                        <li class="file" data-file=name.clone()>
                            <span class="name">{name.clone()}</span>" "<span class="muted">{human_size(it.size as i64)}</span>
                            <progress max="100" value=move || progress.get() aria-label=label></progress>
                            {move || match status.get() {
                                Status::Queued => view! { <span class="muted">"ready"</span> }.into_any(),
                                Status::Uploading => view! { <span>{move || format!("{:.0}%", progress.get())}</span> }.into_any(),
                                Status::Done(id) => view! { <a href=format!("/r/{owner}/{repo}/builds/{id}")>{format!("build #{id}")}</a> }.into_any(),
                                Status::Failed(e) => view! { <p class="field-error" role="alert">{e}</p> }.into_any(),
                            }}
                        </li>
                    }
                }).collect_view())}
            </ul>
            <fieldset>
                <legend>"Mock configs"</legend>
                {if enabled.is_empty() {
                    view! { <p class="empty">"This repository has no enabled mock configs: add one in its settings."</p> }.into_any()
                } else {
                    enabled.into_iter().map(|c| {
                        let id = format!("cfg-{}", c.name);
                        let checked = if any_chosen { flash.checked("upload", "chroot", &c.name, true) } else { true };
                        view! {
                            <div class="check">
                                <input type="checkbox" id=id.clone() name="chroot" value=c.name.clone() checked=checked/>
                                <label for=id>{format!("{} ({})", c.name, c.arch)}</label>
                            </div>
                        }
                    }).collect_view().into_any()
                }}
            </fieldset>
            <div class="check">
                <input type="checkbox" id="scratch" name="scratch" value="on" checked=flash.checked("upload", "scratch", "on", false)/>
                <label for="scratch">"Scratch build (built, never published)"</label>
            </div>
            <div class="check">
                <input type="checkbox" id="nocheck" name="nocheck" value="on" checked=flash.checked("upload", "nocheck", "on", false)/>
                <label for="nocheck">"Skip "<code>"%check"</code>" (--nocheck)"</label>
            </div>
            <button type="submit" disabled=move || busy.get()>{move || if busy.get() { "Uploading…" } else { "Upload and build" }}</button>
        </form>
    }
}

/// A build from a git repository or a URL: an agent fetches it and makes the SRPM first. A
/// plain form post (works without JavaScript).
#[component]
fn SourceForm(
    owner: String,
    repo: String,
    csrf: String,
    configs: Vec<kiln_proto::MockConfig>,
    flash: Flash,
) -> impl IntoView {
    let action = format!("/forms/r/{owner}/{repo}/source");
    let err = |name: &str| {
        flash
            .field("source", name)
            .map(|e| view! { <p class="field-error" role="alert">{e}</p> })
    };
    let any_chosen = flash.form.as_deref() == Some("source");
    view! {
        <section aria-labelledby="from-source" id="source">
            <h3 id="from-source">"Build from git or a URL"</h3>
            <form method="post" action=action class="stack">
                <input type="hidden" name="csrf_token" value=csrf/>
                <SourceFields form="source" prefix="src" flash=flash.clone()/>
                <fieldset>
                    <legend>"Mock configs"</legend>
                    {configs.into_iter().filter(|c| c.enabled).map(|c| {
                        let id = format!("src-cfg-{}", c.name);
                        let checked = if any_chosen { flash.checked("source", "chroot", &c.name, true) } else { true };
                        view! {
                            <div class="check">
                                <input type="checkbox" id=id.clone() name="chroot" value=c.name.clone() checked=checked/>
                                <label for=id>{format!("{} ({})", c.name, c.arch)}</label>
                            </div>
                        }
                    }).collect_view()}
                    {err("chroot")}
                </fieldset>
                <div class="check">
                    <input type="checkbox" id="src-scratch" name="scratch" value="on" checked=flash.checked("source", "scratch", "on", false)/>
                    <label for="src-scratch">"Scratch build (built, never published)"</label>
                </div>
                <button type="submit">"Fetch and build"</button>
            </form>
        </section>
    }
}

/// The fields of a git or URL source (`type`, `url`, `ref`, `subdir`, `spec`) with their
/// errors and what was typed, for the form `form`; ids start with `prefix`.
#[component]
pub(crate) fn SourceFields(
    form: &'static str,
    prefix: &'static str,
    flash: Flash,
) -> impl IntoView {
    let f = |name: &str| flash.value(form, name, "");
    let err = |name: &str| {
        flash
            .field(form, name)
            .map(|e| view! { <p class="field-error" role="alert">{e}</p> })
    };
    let kind = flash.value(form, "type", "git");
    let id = |name: &str| format!("{prefix}-{name}");
    view! {
        <fieldset>
            <legend>"Source"</legend>
            <div class="check">
                <input type="radio" id=id("git") name="type" value="git" checked=kind == "git"/>
                <label for=id("git")>"Git repository"</label>
            </div>
            <div class="check">
                <input type="radio" id=id("url") name="type" value="url" checked=kind == "url"/>
                <label for=id("url")>"URL of a .src.rpm or a .spec"</label>
            </div>
        </fieldset>
        <label for=id("url-field")>"Clone URL or file URL"</label>
        <input type="url" id=id("url-field") name="url" required value=f("url") placeholder="https://…"/>
        {err("source.url")}
        <label for=id("ref")>"Git ref (branch, tag or commit; empty: the default branch)"</label>
        <input type="text" id=id("ref") name="ref" value=f("ref")/>
        {err("source.ref")}
        <label for=id("subdir")>"Directory of the spec in the tree"</label>
        <input type="text" id=id("subdir") name="subdir" value=f("subdir")/>
        {err("source.subdir")}
        <label for=id("spec")>"Spec file (empty: the only one there)"</label>
        <input type="text" id=id("spec") name="spec" value=f("spec")/>
        {err("source.spec")}
    }
}

/// Uploads the first file of `queue`, then the rest, one after another.
fn upload_next(
    api: String,
    csrf: String,
    form: web_sys::HtmlFormElement,
    mut queue: Vec<Item>,
    busy: RwSignal<bool>,
) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    if queue.is_empty() {
        busy.set(false);
        return;
    }
    let item = queue.remove(0);
    let fail = |item: &Item, why: String| item.status.set(Status::Failed(why));
    let Some(file) = FILES.with(|m| m.borrow().get(item.key as usize).cloned()) else {
        return;
    };
    let Ok(data) = web_sys::FormData::new_with_form(&form) else {
        return fail(&item, "the form could not be read".into());
    };
    data.delete("srpm");
    if data
        .append_with_blob_and_filename("srpm", &file, &item.name)
        .is_err()
    {
        return fail(&item, "the file could not be read".into());
    }
    let Ok(xhr) = web_sys::XmlHttpRequest::new() else {
        return fail(&item, "this browser cannot upload".into());
    };
    if xhr.open("POST", &api).is_err() {
        return fail(&item, "the upload could not start".into());
    }
    let _ = xhr.set_request_header("X-CSRF-Token", &csrf);
    let _ = xhr.set_request_header("Accept", "application/json");
    let progress = item.progress;
    let on_progress =
        Closure::<dyn FnMut(web_sys::ProgressEvent)>::new(move |e: web_sys::ProgressEvent| {
            if e.length_computable() && e.total() > 0.0 {
                progress.set(e.loaded() / e.total() * 100.0);
            }
        });
    if let Ok(up) = xhr.upload() {
        up.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
    }
    on_progress.forget();
    let done_xhr = xhr.clone();
    let status = item.status;
    let on_end = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
        let code = done_xhr.status().unwrap_or(0);
        let body: serde_json::Value = done_xhr
            .response_text()
            .ok()
            .flatten()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        if code == 201 {
            progress.set(100.0);
            status.set(Status::Done(body["id"].as_i64().unwrap_or(0)));
        } else if code == 0 {
            status.set(Status::Failed("the connection broke off; try again".into()));
        } else {
            let detail = body["errors"][0]["detail"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("the server answered {code}"));
            status.set(Status::Failed(detail));
        }
        upload_next(api.clone(), csrf.clone(), form.clone(), queue.clone(), busy);
    });
    xhr.set_onloadend(Some(on_end.as_ref().unchecked_ref()));
    on_end.forget();
    item.status.set(Status::Uploading);
    if xhr.send_with_opt_form_data(Some(&data)).is_err() {
        item.status
            .set(Status::Failed("the upload could not start".into()));
    }
}
