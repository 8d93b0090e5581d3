//! Tasks tied to their owner: a [`TaskGuard`] aborts its task when dropped, so no background
//! work outlives the part of the agent that started it.

use std::future::Future;

use tokio::task::JoinHandle;

/// Owns a spawned task and aborts it on drop.
#[derive(Debug)]
pub struct TaskGuard(JoinHandle<()>);

impl TaskGuard {
    /// Spawns `future` on the current runtime.
    pub fn spawn(future: impl Future<Output = ()> + Send + 'static) -> Self {
        TaskGuard(tokio::spawn(future))
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}
