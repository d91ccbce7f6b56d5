//! A fixed pool of OS threads for CPU-bound work (file read, parse, transform, compression),
//! kept off the async reactor.
//!
//! Why not `spawn_blocking`: tokio's blocking pool grows to hundreds of threads under load,
//! and libxslt is recursive, so its threads need a known, large stack. Here the number of
//! threads is fixed (one per core is right for CPU-bound work), the stack size is explicit,
//! and the queue in front of them is bounded: when it is full, [`RenderPool::run`] fails at
//! once with [`Overloaded`] and the caller sheds load (503 with `Retry-After`) instead of
//! letting memory and latency grow without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Sender, TrySendError};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// libxslt and libxml2 recurse on template and document depth; 16 MiB leaves ample room
/// under the depth limits set in [`super::xslt::Limits`].
pub const STACK_SIZE: usize = 16 << 20;

/// The pool refused a job because its queue is full.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("render queue full ({queued} jobs waiting): overloaded")]
pub struct Overloaded {
    /// Jobs waiting when the job was refused.
    pub queued: usize,
}

/// A bounded pool of render threads.
#[derive(Clone)]
pub struct RenderPool {
    tx: Sender<Job>,
    threads: usize,
    busy: Arc<AtomicUsize>,
}

impl RenderPool {
    /// Starts `threads` threads behind a queue of `queue` jobs.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<RenderPool> {
        super::xslt::init();
        let threads = threads.max(1);
        let (tx, rx) = bounded::<Job>(queue.max(1));
        let busy = Arc::new(AtomicUsize::new(0));
        for i in 0..threads {
            let rx = rx.clone();
            let busy = busy.clone();
            std::thread::Builder::new()
                .name(format!("vitrine-render-{i}"))
                .stack_size(STACK_SIZE)
                .spawn(move || {
                    // Ends when every Sender (every RenderPool clone) is dropped.
                    while let Ok(job) = rx.recv() {
                        busy.fetch_add(1, Ordering::Relaxed);
                        // A panicking job must not take a render thread with it.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        busy.fetch_sub(1, Ordering::Relaxed);
                    }
                })?;
        }
        Ok(RenderPool { tx, threads, busy })
    }

    /// Number of threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Jobs waiting in the queue.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }

    /// Jobs running now.
    pub fn busy(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }

    /// Runs `f` on a render thread and awaits its result, or fails at once when the queue is
    /// full.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Overloaded>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let started = std::time::Instant::now();
            let out = f();
            // The requester may have gone (client closed the connection): nothing to do.
            let _ = done.send((out, started.elapsed()));
        });
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                return Err(Overloaded {
                    queued: self.tx.len(),
                });
            }
        }
        // The sender is dropped without a value only if the job panicked.
        let (out, spent) = result.await.map_err(|_| Overloaded { queued: 0 })?;
        // The thread's own time, without the wait in the queue, for the access log.
        crate::observe::access_log::note_render(spent);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_jobs_and_sheds_when_full() {
        let pool = RenderPool::new(1, 1).unwrap();
        assert_eq!(pool.run(|| 41 + 1).await.unwrap(), 42);
        let (block_tx, block_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel::<()>();
        let p = pool.clone();
        let running = tokio::spawn(async move {
            p.run(move || {
                let _ = started_tx.send(());
                let _ = block_rx.recv_timeout(Duration::from_secs(5));
            })
            .await
        });
        // Wait until the blocking job occupies the only thread.
        started_rx.await.unwrap();
        let queued = {
            let p = pool.clone();
            tokio::spawn(async move { p.run(|| 1).await })
        };
        for _ in 0..500 {
            if pool.queued() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let shed = pool.run(|| 2).await;
        assert!(
            shed.is_err(),
            "third job must be refused while one runs and one waits"
        );
        block_tx.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap().unwrap(), 1);
    }
}
