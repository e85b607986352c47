//! Operator access: one-time setup links, the server-side sessions they open, and the cookie that
//! carries a session.

pub mod cookie;
pub mod operator;
pub mod token;

pub use operator::{OperatorAccess, OperatorSession};
