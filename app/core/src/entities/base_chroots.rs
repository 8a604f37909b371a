//! The `base_chroots` table: one row per distribution release and architecture the site offers
//! to build on, managed by site admins.

use sea_orm::entity::prelude::*;

/// A base chroot, `DISTRO-RELEASE-ARCH`: the distribution's repos and mock setup that every mock
/// config on it builds against.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "base_chroots")]
pub struct Model {
    /// The base chroot's id.
    #[sea_orm(primary_key)]
    pub id: i32,
    /// `DISTRO-RELEASE-ARCH`, such as `fedora-44-x86_64`; unique.
    #[sea_orm(unique)]
    pub name: String,
    /// The distribution part of the name (`fedora`, `epel`, `centos-stream` …).
    pub distro: String,
    /// The release part of the name (`44`, `10`, `rawhide` …).
    pub release: String,
    /// The architecture part of the name (`x86_64`, `aarch64` …).
    pub arch: String,
    /// `Vec<kiln_proto::RepoSource>`.
    pub base_repos: Json,
    /// Mock configuration lines that set up the distribution (bootstrap image, package
    /// manager, chroot setup); the rendered config adds the repos after them.
    pub mock_template: String,
    /// The value of `%dist` (`.fc44`, `.el9`), or empty.
    pub dist_macro: String,
    /// Whether new mock configs may be made on it; existing ones keep building (default true).
    pub enabled: bool,
    /// When it was added.
    pub created_at: TimeDateTimeWithTimeZone,
}

/// No relations are declared.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
