pub mod account;
pub mod api_keys;
pub mod embed;
pub mod home;
pub mod not_found;
pub mod settings;
pub mod webhooks;
pub mod wizard;
