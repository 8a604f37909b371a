//! One module per page.

mod access;
mod account;
mod admin;
mod build;
mod builds;
mod forge;
mod groups;
mod home;
mod login;
mod new_repo;
mod not_found;
mod packages;
mod repo;
mod settings;
pub(crate) mod upload;

pub use account::AccountPage;
pub use admin::AdminPage;
pub use build::BuildPage;
pub use builds::BuildsPage;
pub use groups::GroupPage;
pub use home::HomePage;
pub use login::LoginPage;
pub use new_repo::NewRepoPage;
pub use not_found::NotFound;
pub use packages::{PackagePage, PackagesPage};
pub use repo::RepoPage;
pub use settings::SettingsPage;
pub use upload::UploadPage;
