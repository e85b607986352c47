//! Locks shared by request handlers and background tasks.

use std::sync::{Mutex, MutexGuard};

/// The lock, even if a holder panicked: every value guarded so stays consistent between
/// statements (maps and counters), so a panic elsewhere must not take the server down with it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
