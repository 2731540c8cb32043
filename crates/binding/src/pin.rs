//! [`Pinned`]: a strong reference (`napi_ref`, count 1) to a JavaScript value that is
//! deleted on drop — napi-rs's `UnknownRef` must be released by hand (its `Drop` only
//! warns). It keeps a buffer alive while the kernel may still touch it, a registered
//! buffer while its slot is in the ring's table, and the inline engine's `onComplete`.
//!
//! A `Pinned` is created and dropped on its environment's JavaScript thread, while the
//! environment is alive: the engine that owns every `Pinned` is closed (and so empties
//! its tables) from `destroy`, its external's finalizer, or the env's cleanup hook —
//! never later.

use napi::UnknownRef;
use napi::{Env, Unknown};

pub struct Pinned {
    /// Some until dropped.
    raw: Option<UnknownRef>,
    env: Env,
}

impl Pinned {
    /// Pins `v` (an object or function of `env`).
    pub fn new(env: &Env, v: &Unknown) -> napi::Result<Pinned> {
        Ok(Pinned {
            raw: Some(v.create_ref()?),
            env: *env,
        })
    }

    /// The pinned value, as a handle of the current scope.
    pub fn value<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        match &self.raw {
            Some(r) => r.get_value(env),
            None => Err(napi::Error::from_reason("the reference was released")),
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        if let Some(r) = self.raw.take() {
            // Failure means the env is already gone (see the module comment for why that
            // does not happen); nothing can be done about it here.
            let _ = r.unref(&self.env);
        }
    }
}
