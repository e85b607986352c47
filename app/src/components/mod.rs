pub mod copy;
pub mod field;
pub mod layout;
