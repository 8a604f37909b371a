//! The settings page's access sections (repo admins): read tokens for downloading a private
//! repo (a new one shown once, with the ready `.repo` and `dnf install` lines), and for a
//! group-owned repo the role its group's members have. Plain forms.

use kiln_proto::{ReadToken, Role};
use leptos::prelude::*;

use crate::components::{Csrf, FieldError, Time};
use crate::forms::Flash;

/// The repo's read tokens: create (name, optional expiry in days), list, revoke.
#[component]
pub fn ReadTokensSection(
    tokens: Vec<ReadToken>,
    private: bool,
    forms: String,
    csrf: String,
    flash: Flash,
) -> impl IntoView {
    let f = flash;
    view! {
        <section aria-labelledby="read-tokens">
            <h2 id="read-tokens">"Read tokens"</h2>
            <p class="note">"A read token lets a machine download this repository's packages with dnf, which sends it as the HTTP Basic password (with any user name). The "<code>".repo"</code>" file and the release RPM fetched with it carry it, so one "<code>"dnf install"</code>" sets a machine up. Members can use their own API token the same way. A revoked or expired token is refused at once."</p>
            {(!private).then(|| view! { <p class="muted">"This repository is public: anyone can download it without a token. Tokens made now work when it is private."</p> })}
            {if tokens.is_empty() {
                view! { <p class="muted">"No read token."</p> }.into_any()
            } else {
                view! {
                    <table>
                        <thead><tr><th scope="col">"Name"</th><th scope="col">"Token"</th><th scope="col">"Made"</th><th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col"><span class="sr-only">"Actions"</span></th></tr></thead>
                        <tbody>
                            {tokens.into_iter().map(|t| view! {
                                <tr>
                                    <td>{t.name.clone()}</td>
                                    <td><code>{format!("{}…", t.prefix)}</code></td>
                                    <td><Time t=t.created_at/>" by "{t.created_by.clone()}</td>
                                    <td>{match t.expires_at { Some(e) => view! { <Time t=e/> }.into_any(), None => view! { "never" }.into_any() }}</td>
                                    <td>{match t.last_used_at { Some(e) => view! { <Time t=e/> }.into_any(), None => view! { "never" }.into_any() }}</td>
                                    <td>
                                        <form method="post" action=format!("{forms}/read-tokens/{}/revoke", t.id) class="inline">
                                            <Csrf token=csrf.clone()/>
                                            <button type="submit" class="danger" aria-label=format!("Revoke the read token {}", t.name)>"Revoke"</button>
                                        </form>
                                    </td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <h3>"New read token"</h3>
            <form method="post" action=format!("{forms}/read-tokens") class="stack narrow-form">
                <Csrf token=csrf/>
                <label for="read-token-name">"Name"</label>
                <input id="read-token-name" name="name" required maxlength="100" placeholder="ci-runners" value=f.value("read-token", "name", "") aria-describedby="read-token-name-error"/>
                <FieldError id="read-token-name-error".into() message=f.field("read-token", "name")/>
                <label for="read-token-days">"Expires after N days (0 = never)"</label>
                <input id="read-token-days" name="expires_days" type="number" min="0" max="3650" value=f.value("read-token", "expires_days", "0") aria-describedby="read-token-days-error"/>
                <FieldError id="read-token-days-error".into() message=f.field("read-token", "expires_days")/>
                <button type="submit">"Create a read token"</button>
            </form>
        </section>
    }
}

/// The role the owning group's members have in a group-owned repo.
#[component]
pub fn GroupRoleSection(group: String, role: Role, forms: String, csrf: String) -> impl IntoView {
    view! {
        <section aria-labelledby="group-role">
            <h2 id="group-role">"Group"</h2>
            <p>"Every member of "<a href=format!("/groups/{}", group.trim_start_matches('@'))>{group.clone()}</a>" has this role here (a member's own role counts if it is higher)."</p>
            <form method="post" action=format!("{forms}/group-role") class="inline">
                <Csrf token=csrf/>
                <label for="group-role-select">"Role of the group's members"</label>
                <select id="group-role-select" name="role">
                    {Role::ALL.iter().map(|r| view! { <option value=r.as_str() selected=*r == role>{r.as_str()}</option> }).collect_view()}
                </select>
                <button type="submit">"Save"</button>
            </form>
        </section>
    }
}
