//! The settings page's forge section (rel-eng): the hook URL, a new secret (shown once), the
//! latest deliveries with their outcome, and the repo's git credentials. Plain forms.

use leptos::prelude::*;

use crate::components::{Csrf, FieldError, Time};
use crate::forms::Flash;

/// The forge hook (its URL, a new secret, the latest deliveries) and the repo's git
/// credentials, for rel-eng.
#[component]
pub fn ForgeSection(
    hook: kiln_proto::ForgeHook,
    log: Vec<kiln_proto::ForgeDelivery>,
    forms: String,
    builds: String,
    csrf: String,
    flash: Flash,
) -> impl IntoView {
    let f = flash;
    view! {
        <section aria-labelledby="forge">
            <h2 id="forge">"Forge hook"</h2>
            <p class="note">"Add this URL to the git forge (GitHub, Gitea, Forgejo or GitLab) as a push webhook with content type "<code>"application/json"</code>" and the secret set here. A push rebuilds the packages marked “rebuilt on push” whose clone URL it names and whose directory it changed; a tag push builds the tag. Deliveries with a wrong signature are refused."</p>
            <p>"Hook URL: "<code>{hook.url.clone()}</code></p>
            {match hook.secret_set_at {
                Some(t) => view! { <p>"Secret set "<Time t=t/>"."</p> }.into_any(),
                None => view! { <p class="warning">"No secret yet: every delivery is refused."</p> }.into_any(),
            }}
            <form method="post" action=format!("{forms}/forge/secret") class="inline">
                <Csrf token=csrf.clone()/>
                <button type="submit">{if hook.secret_set_at.is_some() { "Replace the secret" } else { "Create a secret" }}</button>
            </form>
            <h3>"Latest deliveries"</h3>
            {if log.is_empty() {
                view! { <p class="muted">"No delivery yet."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th scope="col">"Received"</th><th scope="col">"Forge"</th><th scope="col">"Event"</th><th scope="col">"Ref"</th><th scope="col">"Outcome"</th></tr></thead>
                        <tbody>
                            {log.into_iter().map(|d| view! {
                                <tr>
                                    <td><Time t=d.received_at/></td>
                                    <td>{d.forge.clone()}</td>
                                    <td>{d.event.clone()}</td>
                                    <td><code>{d.git_ref.clone()}</code>" "<span class="muted">{d.commit.get(..12).unwrap_or(&d.commit).to_owned()}</span></td>
                                    <td>{d.outcome.clone()}
                                        {(!d.builds.is_empty()).then(|| view! {
                                            <ul class="plain">{d.builds.iter().map(|b| view! {
                                                <li><a href=format!("{builds}/{}", b.task)>{format!("{} #{}", b.package, b.task)}</a></li>
                                            }).collect_view()}</ul>
                                        })}
                                    </td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <h3 id="git-credentials">"Git credentials"</h3>
            <p class="note">"For private git repos: sent as HTTP Basic credentials to that host only, when an agent fetches a source; never shown again, never in a URL, log or build."</p>
            <ul class="plain">
                {hook.git_credentials.into_iter().map(|c| view! {
                    <li>
                        <code>{c.host.clone()}</code>" as "{c.username.clone()}", set "<Time t=c.created_at/>" "
                        <form method="post" action=format!("{forms}/git-credentials/{}/delete", c.host) class="inline">
                            <Csrf token=csrf.clone()/>
                            <button type="submit" class="danger" aria-label=format!("Remove the credential for {}", c.host)>"Remove"</button>
                        </form>
                    </li>
                }).collect_view()}
            </ul>
            <form method="post" action=format!("{forms}/git-credentials") class="stack narrow-form">
                <Csrf token=csrf/>
                <label for="cred-host">"Host"</label>
                <input id="cred-host" name="host" required placeholder="git.example.org" value=f.value("git-credential", "host", "") aria-describedby="cred-host-error"/>
                <FieldError id="cred-host-error".into() message=f.field("git-credential", "host")/>
                <label for="cred-user">"User name"</label>
                <input id="cred-user" name="username" required autocomplete="off" value=f.value("git-credential", "username", "") aria-describedby="cred-user-error"/>
                <FieldError id="cred-user-error".into() message=f.field("git-credential", "username")/>
                <label for="cred-password">"Password or access token"</label>
                <input id="cred-password" name="password" type="password" required autocomplete="new-password" aria-describedby="cred-password-error"/>
                <FieldError id="cred-password-error".into() message=f.field("git-credential", "password")/>
                <button type="submit">"Store the credential"</button>
            </form>
        </section>
    }
}
