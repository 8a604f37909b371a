use sea_orm::entity::prelude::*;

/// A builder pool's shared state: which server runs its provisioner now (`locked_until`), and
/// its provider's consecutive failures with the backoff they earned.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "builder_pools")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub name: String,
    pub locked_until: Option<TimeDateTimeWithTimeZone>,
    pub failures: i32,
    pub next_attempt_at: Option<TimeDateTimeWithTimeZone>,
    pub last_error: Option<String>,
    pub last_error_at: Option<TimeDateTimeWithTimeZone>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
