//! The memory and time budget of a transform, kept by libxml2's allocation hooks.

use super::*;

/// Why a transform was stopped by [`Budget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trip {
    Memory,
    Time,
}

/// Accounting of the libxml2 allocations of the transform running on this thread. libxslt
/// has no way to stop a transform from outside, and no memory limit; but every node, string,
/// node set and variable it creates comes from `xmlMalloc`, which [`init`] points at the
/// hooks below. While a transform runs, they count the bytes it allocates and, every
/// [`CLOCK_EVERY`] allocations, read the clock; past a budget they stop the transform from
/// this same thread (see [`Budget::trip`]). No watchdog thread: libxslt reads `ctxt->state`
/// as a plain `int`, so another thread writing it would be a data race (undefined behaviour
/// in C), and nothing guarantees the compiled loops would even reload it.
///
/// The time budget is CPU time of the thread: what bounds the work a theme makes the server
/// do, whatever the load (with more renders than cores, or a busy machine, wall time says
/// little about the transform). Reading a thread's CPU clock is a system call, so the cheap
/// monotonic clock is read first: CPU time cannot exceed wall time, so until the wall-clock
/// deadline passes there is nothing to check; then the CPU clock is read and the deadline
/// moved by what is left of the budget.
pub(super) struct Budget {
    pub(super) active: Cell<bool>,
    pub(super) allocated: Cell<isize>,
    pub(super) soft: Cell<isize>,
    pub(super) hard: Cell<isize>,
    pub(super) allocations: Cell<u32>,
    pub(super) deadline: Cell<Option<Instant>>,
    pub(super) cpu_start: Cell<Duration>,
    pub(super) max_cpu: Cell<Duration>,
    pub(super) ctxt: Cell<ffi::xsltTransformContextPtr>,
    pub(super) tripped: Cell<Option<Trip>>,
}

/// Allocations between two clock reads (a clock read costs about as much as an allocation).
pub(super) const CLOCK_EVERY: u32 = 256;

/// CPU time used by the calling thread.
pub(super) fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass; the thread CPU clock always exists
    // on Linux (on failure, `ts` stays zero and the budget only gets more lenient).
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

thread_local! {
    // const-initialised and without Drop: usable from the allocation hooks at any time,
    // including while the thread exits.
    static BUDGET: Budget = const {
        Budget {
            active: Cell::new(false),
            allocated: Cell::new(0),
            soft: Cell::new(0),
            hard: Cell::new(0),
            allocations: Cell::new(0),
            deadline: Cell::new(None),
            cpu_start: Cell::new(Duration::ZERO),
            max_cpu: Cell::new(Duration::ZERO),
            ctxt: Cell::new(ptr::null_mut()),
            tripped: Cell::new(None),
        }
    };
}

impl Budget {
    /// Charges an allocation of `size` bytes to the running transform (if any) and checks
    /// the budgets; `false` refuses it. Refused only beyond the hard cap (twice the budget),
    /// which a stopped transform reaches only if one operation alone asks for that much;
    /// libxml2 and libxslt treat a NULL from `xmlMalloc` as an error. On every libxml2
    /// allocation, hence kept to a few instructions; the clock is read only every
    /// [`CLOCK_EVERY`] allocations.
    #[inline]
    pub(super) fn charge(&self, size: usize) -> bool {
        if !self.active.get() {
            return true;
        }
        let total = self
            .allocated
            .get()
            .saturating_add(isize::try_from(size).unwrap_or(isize::MAX));
        if total > self.hard.get() {
            self.trip(Trip::Memory);
            return false;
        }
        self.allocated.set(total);
        if total > self.soft.get() {
            self.trip(Trip::Memory);
        }
        let left = self.allocations.get().wrapping_sub(1);
        self.allocations.set(left);
        if left == 0 {
            self.allocations.set(CLOCK_EVERY);
            self.check_time();
        }
        true
    }

    #[cold]
    #[inline(never)]
    pub(super) fn check_time(&self) {
        let Some(deadline) = self.deadline.get() else {
            return;
        };
        let now = Instant::now();
        if now <= deadline {
            return;
        }
        let used = thread_cpu_time().saturating_sub(self.cpu_start.get());
        match self.max_cpu.get().checked_sub(used) {
            Some(left) if !left.is_zero() => self.deadline.set(now.checked_add(left)),
            _ => self.trip(Trip::Time),
        }
    }

    /// Stops the transform at its next instruction or XPath step.
    #[cold]
    #[inline(never)]
    pub(super) fn trip(&self, why: Trip) {
        if self.tripped.get().is_some() {
            return;
        }
        self.tripped.set(Some(why));
        let ctxt = self.ctxt.get();
        if !ctxt.is_null() {
            // SAFETY: `ctxt` is the live transform context of the transform running on this
            // very thread (set by `BudgetWindow::open`, cleared before the context is freed),
            // and we are inside one of its allocations, so no other thread touches it and
            // there is no data race. `c/context.c` does what libxslt's own error paths do from
            // equally deep places (e.g. xsltApplySequenceConstructor's operation limit): it
            // sets `state = XSLT_STATE_STOPPED`, which every loop of the transform checks to
            // unwind, freeing as usual; and it spends the rest of the XPath operation budget,
            // so that an expression being evaluated stops at its next step with an XPath
            // error. The allocation in progress still succeeds (unless it is one `admit`
            // refuses), so the code that asked for it continues consistently.
            unsafe { vitrine_ctxt_stop(ctxt) };
        }
    }
}

/// What an operator reads when a budget stopped a transform.
pub(super) fn budget_message(why: Trip, limits: &Limits) -> String {
    match why {
        Trip::Memory => format!(
            "stopped: the transform used more than {} (memory budget); the theme builds too \
             much for this site (a string doubled in a loop, large copies of node sets?)",
            if limits.max_memory >= 1 << 20 {
                format!("{} MiB", limits.max_memory >> 20)
            } else {
                format!("{} KiB", limits.max_memory >> 10)
            }
        ),
        Trip::Time => format!(
            "stopped: the transform used more than {:?} of CPU time (time budget); the \
             theme does too much work for this site (nested loops over all nodes?)",
            limits.max_time
        ),
    }
}

/// The window of one transform (and its serialisation) during which [`Budget`] counts.
pub(super) struct BudgetWindow;

impl BudgetWindow {
    pub(super) fn open(ctxt: ffi::xsltTransformContextPtr, limits: &Limits) -> BudgetWindow {
        let soft = isize::try_from(limits.max_memory).unwrap_or(isize::MAX / 2);
        BUDGET.with(|b| {
            b.allocated.set(0);
            b.soft.set(soft);
            b.hard.set(soft.saturating_mul(2));
            b.allocations.set(CLOCK_EVERY);
            b.deadline.set(Instant::now().checked_add(limits.max_time));
            b.cpu_start.set(thread_cpu_time());
            b.max_cpu.set(limits.max_time);
            b.ctxt.set(ctxt);
            b.tripped.set(None);
            b.active.set(true);
        });
        BudgetWindow
    }

    /// The context is about to be freed: the budget can no longer stop it.
    pub(super) fn forget_context(&self) {
        BUDGET.with(|b| b.ctxt.set(ptr::null_mut()));
    }

    /// Why the transform was stopped, if it was.
    pub(super) fn tripped(&self) -> Option<Trip> {
        BUDGET.with(|b| b.tripped.get())
    }
}

impl Drop for BudgetWindow {
    fn drop(&mut self) {
        BUDGET.with(|b| {
            b.active.set(false);
            b.ctxt.set(ptr::null_mut());
        });
    }
}

/// Usable size of a block from mimalloc (what a free gives back).
pub(super) fn usable(p: *mut c_void) -> isize {
    // SAFETY: `p` is non-null and was allocated by mimalloc: every libxml2 allocation goes
    // through these hooks, installed before libxml2's first allocation.
    isize::try_from(unsafe { mimalloc::mi_usable_size(p) }).unwrap_or(isize::MAX)
}

/// Inside a page render, from the thread's render arena (see [`arena`]); else from mimalloc.
pub(super) unsafe extern "C" fn budget_malloc(size: usize) -> *mut c_void {
    if !BUDGET.try_with(|b| b.charge(size)).unwrap_or(true) {
        return ptr::null_mut();
    }
    if let Some(p) = arena::alloc(size) {
        return p;
    }
    // SAFETY: plain allocation.
    unsafe { mimalloc::mi_malloc(size) }
}

pub(super) unsafe extern "C" fn budget_realloc(p: *mut c_void, size: usize) -> *mut c_void {
    let in_arena = arena::owns(p);
    // SAFETY: a non-null `p` is a live block of the caller's: an arena block (which has a
    // size header) when `owns` says so, else a mimalloc block.
    let old_size = || unsafe {
        if p.is_null() {
            0
        } else if in_arena {
            isize::try_from(arena::size_of(p)).unwrap_or(isize::MAX)
        } else {
            usable(p)
        }
    };
    let allowed = BUDGET
        .try_with(|b| {
            if !b.active.get() {
                return true;
            }
            let grow = isize::try_from(size)
                .unwrap_or(isize::MAX)
                .saturating_sub(old_size());
            b.charge(usize::try_from(grow).unwrap_or(0))
        })
        .unwrap_or(true);
    if !allowed {
        return ptr::null_mut();
    }
    if !in_arena {
        // SAFETY: `p` is NULL or a live mimalloc block owned by the caller.
        return unsafe { mimalloc::mi_realloc(p, size) };
    }
    if arena::resize_in_place(p, size) {
        return p;
    }
    // SAFETY: plain allocation.
    let new = arena::alloc(size).unwrap_or_else(|| unsafe { mimalloc::mi_malloc(size) });
    if !new.is_null() {
        let keep = usize::try_from(old_size()).unwrap_or(0).min(size);
        // SAFETY: the old block holds `old_size` bytes and the new one `size`; they are
        // distinct blocks. The old arena block needs no free.
        unsafe { ptr::copy_nonoverlapping(p.cast::<u8>(), new.cast::<u8>(), keep) };
    }
    new
}

/// Frees are not counted (the budget is a volume, see [`Limits::max_memory`]): the most
/// frequent call of a transform stays a range test, or a plain `mi_free`.
pub(super) unsafe extern "C" fn budget_free(p: *mut c_void) {
    if arena::owns(p) {
        // Arena blocks go all at once, when their scope closes.
        return;
    }
    // SAFETY: `p` is NULL or a live mimalloc block owned by the caller, freed once.
    unsafe { mimalloc::mi_free(p) }
}

pub(super) unsafe extern "C" fn budget_strdup(s: *const c_char) -> *mut c_char {
    if s.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: libxml2 passes a NUL-terminated string; the copy has room for it and its NUL.
    unsafe {
        let len = libc::strlen(s) + 1;
        let p = budget_malloc(len).cast::<c_char>();
        if !p.is_null() {
            ptr::copy_nonoverlapping(s, p, len);
        }
        p
    }
}
