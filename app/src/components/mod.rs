pub mod copy;
pub mod field;
pub mod hydrated;
pub mod layout;
