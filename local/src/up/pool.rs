//! A function's processes: Lambda runs one invocation per execution environment and more
//! environments for concurrency, so a function here is `n` processes, each its own Runtime API,
//! and an invocation takes whichever is free. What each invocation came to is counted for the
//! live view.
use super::stats::Stats;
use crate::runtime::api::Outcome;
use crate::runtime::process::{FunctionConfig, FunctionProcess};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Semaphore;

pub struct Pool {
    pub name: &'static str,
    processes: Vec<FunctionProcess>,
    free: Mutex<Vec<usize>>,
    available: Semaphore,
    stats: Arc<Stats>,
}

impl Pool {
    /// Starts `concurrency` processes of the function (at least one).
    pub async fn start(
        name: &'static str,
        config: FunctionConfig,
        concurrency: usize,
        stats: Arc<Stats>,
    ) -> std::io::Result<Pool> {
        let mut processes = Vec::new();
        for _ in 0..concurrency.max(1) {
            processes.push(FunctionProcess::start(config.clone()).await?);
        }
        let n = processes.len();
        Ok(Pool { name, processes, free: Mutex::new((0..n).rev().collect()), available: Semaphore::new(n), stats })
    }

    /// Invokes on a free process, waiting for one; counted as an invocation of the function,
    /// and as a failure unless the function answered.
    pub async fn invoke(&self, event: Vec<u8>) -> Outcome {
        let Ok(_permit) = self.available.acquire().await else { return Outcome::TimedOut };
        let index = lock(&self.free).pop().unwrap_or(0);
        let started = Instant::now();
        let outcome = self.processes[index].invoke(event).await;
        lock(&self.free).push(index);
        let failed = !matches!(outcome, Outcome::Response(_));
        self.stats.invoked(self.name, started.elapsed(), failed);
        outcome
    }

    pub fn processes(&self) -> &[FunctionProcess] {
        &self.processes
    }

    pub async fn stop(&self) {
        for p in &self.processes {
            p.stop().await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
