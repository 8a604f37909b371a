//! Pieces every page uses: the header with the account menu, notices and errors, state badges,
//! times, the repo's tabs and copy buttons.

use kiln_proto::TaskState;
use leptos::prelude::*;
use time::OffsetDateTime;

use crate::api::{session_info, Can, RepoHead};
use crate::forms::Flash;

#[component]
pub fn Header() -> impl IntoView {
    let session = Resource::new(|| (), |_| session_info());
    view! {
        <header class="site">
            <a class="skip" href="#main">"Skip to content"</a>
            <a class="brand" href="/">"Kiln"</a>
            <nav aria-label="Account">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match session.await {
                            Ok(s) => match (s.user, s.csrf_token) {
                                (Some(user), csrf) => view! {
                                    <a href="/new">"New repository"</a>
                                    {user.is_site_admin.then(|| view! { <a href="/admin">"Site admin"</a> })}
                                    <a href="/account" class="who">{user.username}</a>
                                    <form method="post" action="/auth/logout" class="inline">
                                        <input type="hidden" name="csrf_token" value=csrf.unwrap_or_default()/>
                                        <button type="submit" class="link">"Sign out"</button>
                                    </form>
                                }.into_any(),
                                (None, _) => view! { <a href="/login">"Sign in"</a> }.into_any(),
                            },
                            Err(_) => view! { <a href="/login">"Sign in"</a> }.into_any(),
                        }
                    })}
                </Suspense>
            </nav>
        </header>
    }
}

#[component]
pub fn ErrorMessage(message: String) -> impl IntoView {
    view! { <p class="error" role="alert">{message}</p> }
}

/// A failed page load: its message, with a way on.
#[component]
pub fn LoadError(error: ServerFnError) -> impl IntoView {
    let text = error_text(&error);
    let sign_in = text.contains("sign in") || text.contains("Sign in");
    view! {
        <h1>"Cannot show this page"</h1>
        <ErrorMessage message=text/>
        {sign_in.then(|| view! { <p><a class="button" href="/login">"Sign in"</a></p> })}
    }
}

/// `ServerFnError`'s text without the framework's prefix.
pub fn error_text(e: &ServerFnError) -> String {
    let s = e.to_string();
    s.split_once(": ").map(|(_, m)| m.to_owned()).unwrap_or(s)
}

/// The notice or general error a form post left, and a secret to copy once.
#[component]
pub fn FlashBox(flash: Flash) -> impl IntoView {
    view! {
        {flash.notice.map(|n| view! { <p class="notice" role="status">{n}</p> })}
        {flash.error.map(|e| view! { <p class="error" role="alert">{e}</p> })}
        {flash.secret.map(|s| view! {
            <div class="secret">
                <p><strong>"Copy it now; it will not be shown again:"</strong></p>
                <CopyLine text=s label="secret"/>
                {(!flash.secret_uses.is_empty()).then(|| view! {
                    <p>"Ready to paste, with it in place:"</p>
                    {flash.secret_uses.into_iter().map(|u| view! { <CopyLine text=u label="command"/> }).collect_view()}
                })}
            </div>
        })}
    }
}

/// The error of one field, tied to it with `aria-describedby` = `id`.
#[component]
pub fn FieldError(id: String, message: Option<String>) -> impl IntoView {
    message.map(|m| view! { <p class="field-error" id=id role="alert">{m}</p> })
}

/// A hidden CSRF field for a form.
#[component]
pub fn Csrf(token: String) -> impl IntoView {
    view! { <input type="hidden" name="csrf_token" value=token/> }
}

pub fn state_class(s: TaskState) -> &'static str {
    match s {
        TaskState::Succeeded => "state ok",
        TaskState::Failed => "state bad",
        TaskState::Running => "state run",
        TaskState::Pending => "state wait",
        TaskState::Canceled | TaskState::Skipped => "state off",
    }
}

#[component]
pub fn StateBadge(state: TaskState) -> impl IntoView {
    view! { <span class=state_class(state) data-state=state.as_str()>{state.as_str()}</span> }
}

/// `2026-11-21 10:03 UTC`.
pub fn when(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

#[component]
pub fn Time(t: OffsetDateTime) -> impl IntoView {
    let iso = t
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    view! { <time datetime=iso>{when(t)}</time> }
}

/// `1h 02m`, `3m 05s`, `12s`.
pub fn duration(start: Option<OffsetDateTime>, end: Option<OffsetDateTime>) -> String {
    let (Some(s), Some(e)) = (start, end) else {
        return "—".into();
    };
    let secs = (e - s).whole_seconds().max(0);
    match secs {
        s if s >= 3600 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

pub fn human_size(n: i64) -> String {
    let n = n.max(0) as f64;
    match n {
        n if n >= 1024.0 * 1024.0 * 1024.0 => format!("{:.1} GiB", n / 1024.0 / 1024.0 / 1024.0),
        n if n >= 1024.0 * 1024.0 => format!("{:.1} MiB", n / 1024.0 / 1024.0),
        n if n >= 1024.0 => format!("{:.1} KiB", n / 1024.0),
        n => format!("{n} B"),
    }
}

/// Where an owner's name leads: a group's page, or a search for a user's repos.
pub fn owner_link(owner: &str) -> String {
    match owner.strip_prefix('@') {
        Some(group) => format!("/groups/{group}"),
        None => format!("/?q={owner}"),
    }
}

/// The repo's title and tabs; `current` is the tab shown.
#[component]
pub fn RepoTabs(head: RepoHead, current: &'static str) -> impl IntoView {
    let r = &head.repo;
    let base = format!("/r/{}/{}", r.owner, r.name);
    let can: Can = head.can;
    let tab = move |key: &'static str, href: String, label: &'static str| {
        let cur = (key == current).then_some("page");
        view! { <li><a href=href aria-current=cur>{label}</a></li> }
    };
    view! {
        <div class="repo-head">
            <h1><a href=owner_link(&r.owner) class="owner">{r.owner.clone()}</a>" / "{r.name.clone()}</h1>
            {(r.visibility == kiln_proto::Visibility::Private).then(|| view! { <span class="tag">"private"</span> })}
            {r.my_role.map(|role| view! { <span class="role">{format!("your role: {}", role.as_str())}</span> })}
        </div>
        <nav class="tabs" aria-label="Repository">
            <ul>
                {tab("overview", base.clone(), "Overview")}
                {tab("builds", format!("{base}/builds"), "Builds")}
                {tab("packages", format!("{base}/packages"), "Packages")}
                {can.submit.then(|| tab("upload", format!("{base}/upload"), "Upload"))}
                {(can.settings || can.members).then(|| tab("settings", format!("{base}/settings"), "Settings"))}
            </ul>
        </nav>
        <FlashBox flash=head.flash/>
    }
}

/// A line to copy (a command, a URL): the text, and a copy button once the page is
/// interactive (without JavaScript the text is still there to select).
#[component]
pub fn CopyLine(text: String, #[prop(optional)] label: &'static str) -> impl IntoView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let copied = RwSignal::new(false);
    let to_copy = text.clone();
    let copy = move |_| {
        let window = web_sys::window();
        if let Some(w) = window {
            let _ = w.navigator().clipboard().write_text(&to_copy);
            copied.set(true);
        }
    };
    let aria = if label.is_empty() {
        "Copy".to_owned()
    } else {
        format!("Copy the {label}")
    };
    view! {
        <div class="copy-line">
            <pre><code>{text}</code></pre>
            <Show when=move || hydrated.get()>
                <button type="button" class="secondary" aria-label=aria.clone() on:click=copy.clone()>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </Show>
        </div>
    }
}

/// `(owner, repo)` from the route.
pub fn repo_params() -> impl Fn() -> (String, String) + Clone + Send + Sync + 'static {
    let params = leptos_router::hooks::use_params_map();
    move || {
        params.with(|p| {
            (
                p.get("owner").unwrap_or_default(),
                p.get("repo").unwrap_or_default(),
            )
        })
    }
}

/// A table of builds (parent tasks), newest first.
#[component]
pub fn BuildTable(builds: Vec<kiln_proto::Task>, owner: String, repo: String) -> impl IntoView {
    view! {
        <table class="builds">
            <thead><tr>
                <th scope="col">"Build"</th><th scope="col">"Package"</th><th scope="col">"State"</th>
                <th scope="col">"Mock configs"</th><th scope="col">"Submitted"</th><th scope="col">"By"</th><th scope="col">"Took"</th>
            </tr></thead>
            <tbody>
                {builds.into_iter().map(|t| {
                    let pkg = t.subtasks.iter().find_map(|s| s.package.as_ref().map(|p| format!("{}-{}-{}", p.name, p.version, p.release)))
                        .or_else(|| t.subtasks.iter().find_map(|s| s.file_name.clone()))
                        .or_else(|| t.source.as_ref().map(|o| o.source.display()))
                        .unwrap_or_default();
                    let configs: Vec<String> = t.subtasks.iter().map(|s| s.mock_config.clone()).collect();
                    view! {
                        <tr>
                            <td><a href=format!("/r/{owner}/{repo}/builds/{}", t.id)>{format!("#{}", t.id)}</a>
                                {t.scratch.then(|| view! { " " <span class="tag">"scratch"</span> })}</td>
                            <td>{pkg}</td>
                            <td><StateBadge state=t.state/></td>
                            <td>{configs.join(", ")}</td>
                            <td><Time t=t.created_at/></td>
                            <td>{t.submitter.clone().unwrap_or_default()}</td>
                            <td>{duration(t.started_at, t.finished_at)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
