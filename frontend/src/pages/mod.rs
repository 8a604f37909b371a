//! One module per page.

mod home;
mod login;
mod not_found;
mod repo;

pub use home::HomePage;
pub use login::LoginPage;
pub use not_found::NotFound;
pub use repo::RepoPage;
