//! Render arenas: where libxml2 allocates while one page renders.
//!
//! A page render (parse the site file, transform it, serialise the result) makes about a
//! thousand libxml2 allocations, and frees them all when it ends, walking both trees to do
//! so: allocating and freeing were a sixth of the server's CPU time, and the walks as much
//! again (callgrind of `vitrine serve` on the reference corpus). Inside a [`Scope`], this
//! thread's libxml2 allocations come from a bump region of its own, frees of its blocks do
//! nothing, the documents are dropped without walking their trees, and closing the scope
//! makes the whole region free again.
//!
//! # The rule, and how it is kept
//!
//! Nothing allocated inside a scope may be used after the scope has closed.
//! - Documents: the only libxml2 objects that leave the function that made them. Each
//!   document built in a scope is counted in its slot ([`adopt`], [`release`]); a scope that
//!   closes while one is still alive does not reuse its slot, ever (it is abandoned, and an
//!   error logged): whatever escaped stays valid memory.
//! - Objects meant to outlive a render (compiled stylesheets, schemas, the first use of
//!   libxml2 on a thread) are made outside scopes: their constructors [`suspend`] the arena.
//! - Strings libxml2 keeps per thread (the last error) are cleared when a scope closes, by
//!   the caller in `transform.rs`.
//!
//! Debug builds fill the used part of a slot with a poison byte when a scope closes, so that
//! a test that broke the rule reads garbage pointers and crashes instead of passing.
//!
//! # Why one reservation for all threads
//!
//! `xmlFree` runs on any thread, for blocks of any origin. All slots are parts of one virtual
//! reservation made at start, so "is this block from an arena?" is one subtraction and one
//! comparison, and frees of arena blocks are ignored whichever thread makes them. Slots are
//! never unmapped, so a stale pointer into one is never confused with a mimalloc block.
//! The reservation costs address space only (`MAP_NORESERVE`): pages are committed when a
//! render first touches them, and given back past [`KEEP`] bytes after a large render.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Bytes of one thread's slot. A render that needs more goes on with mimalloc (the memory
/// budget of a transform is 64 MiB by default; a reference page uses about 150 KiB).
const SLOT: usize = 16 << 20;

/// Slots in the reservation: threads rendering at the same time with an arena. Others
/// render with mimalloc alone.
const SLOTS: usize = 128;

/// Bytes of a slot kept committed between renders; more is given back to the system.
const KEEP: usize = 1 << 20;

/// Blocks are aligned like malloc's, and preceded by their size (for `realloc`).
const ALIGN: usize = 16;
const HEADER: usize = std::mem::size_of::<usize>();

/// Poison written over a closed scope's blocks in debug builds.
#[cfg(debug_assertions)]
const POISON: u8 = 0xA5;

/// Start of the reservation, 0 until [`reserve`] succeeded.
static BASE: AtomicUsize = AtomicUsize::new(0);
/// Length of the reservation, 0 until [`reserve`] succeeded.
static LEN: AtomicUsize = AtomicUsize::new(0);
/// Slots never handed out yet start at this index.
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// Slots given back by exited threads.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// Live documents built in each slot.
static LIVE: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];

/// Reserves the address space of every slot (once: later calls do nothing). Called by
/// `init`, before any render; on failure arenas are simply not used.
pub(super) fn reserve() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(reserve_now);
}

fn reserve_now() {
    let len = SLOT * SLOTS;
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing; it
    // overlaps nothing of ours. MAP_NORESERVE: address space only, pages committed on use.
    let base = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        tracing::warn!("could not reserve render arenas; rendering with mimalloc only");
        return;
    }
    LEN.store(len, Ordering::Relaxed);
    BASE.store(base as usize, Ordering::Release);
}

/// Whether `p` lies in an arena slot (of any thread, open scope or not).
#[inline]
pub(super) fn owns(p: *const c_void) -> bool {
    (p as usize).wrapping_sub(BASE.load(Ordering::Relaxed)) < LEN.load(Ordering::Relaxed)
}

/// This thread's arena.
struct ThreadArena {
    /// Next free byte.
    top: Cell<usize>,
    /// End of the slot while a scope allocates; 0 when there is no scope or it is suspended.
    end: Cell<usize>,
    /// End of the slot while a scope is open (`end` may be 0 while suspended).
    scope_end: Cell<usize>,
    /// Start of the last block, which `realloc` can grow in place.
    last: Cell<usize>,
    /// Start of this thread's slot; 0 when it has none.
    base: Cell<usize>,
    /// A block of this scope did not fit and came from mimalloc.
    overflowed: Cell<bool>,
}

thread_local! {
    // const-initialised and without Drop: usable from the allocation hooks at any time,
    // including while the thread exits.
    static ARENA: ThreadArena = const {
        ThreadArena {
            top: Cell::new(0),
            end: Cell::new(0),
            scope_end: Cell::new(0),
            last: Cell::new(0),
            base: Cell::new(0),
            overflowed: Cell::new(false),
        }
    };
    // Gives the slot back when the thread exits (made when the thread takes a slot).
    static SLOT_OWNER: SlotOwner = const { SlotOwner };
}

/// See `SLOT_OWNER`.
struct SlotOwner;

impl Drop for SlotOwner {
    fn drop(&mut self) {
        let base = ARENA.with(|a| a.base.replace(0));
        if base != 0 {
            give_back(index_of(base));
        }
    }
}

fn index_of(p: usize) -> usize {
    (p - BASE.load(Ordering::Relaxed)) / SLOT
}

fn give_back(slot: usize) {
    FREE.lock().unwrap_or_else(|e| e.into_inner()).push(slot);
}

fn take_slot() -> Option<usize> {
    if let Some(slot) = FREE.lock().unwrap_or_else(|e| e.into_inner()).pop() {
        return Some(slot);
    }
    let slot = NEXT.fetch_add(1, Ordering::Relaxed);
    (slot < SLOTS).then_some(slot)
}

/// A block of `size` bytes from this thread's open scope, or `None` (no scope, suspended,
/// or the slot is full: then the caller uses mimalloc and the scope is marked overflowed).
#[inline]
pub(super) fn alloc(size: usize) -> Option<*mut c_void> {
    ARENA.with(|a| {
        let end = a.end.get();
        if end == 0 {
            return None;
        }
        let data = (a.top.get() + HEADER + (ALIGN - 1)) & !(ALIGN - 1);
        match data.checked_add(size) {
            Some(top) if top <= end => {
                a.top.set(top);
                a.last.set(data);
                // SAFETY: `data - HEADER .. top` lies in this thread's slot, mapped read-write
                // for the life of the process and used by nothing else until the scope closes.
                unsafe { ptr::write((data - HEADER) as *mut usize, size) };
                Some(data as *mut c_void)
            }
            _ => {
                a.overflowed.set(true);
                None
            }
        }
    })
}

/// Size of an arena block (from its header).
///
/// # Safety
/// `p` must be a block returned by [`alloc`] (then [`owns`] is true).
#[inline]
pub(super) unsafe fn size_of(p: *const c_void) -> usize {
    // SAFETY: every arena block is preceded by its size (see `alloc`); the slot stays mapped.
    unsafe { ptr::read((p as usize - HEADER) as *const usize) }
}

/// Grows or shrinks the last block of this thread's open scope in place, if `p` is it and
/// `size` fits; `false` otherwise (the caller allocates anew and copies).
#[inline]
pub(super) fn resize_in_place(p: *mut c_void, size: usize) -> bool {
    ARENA.with(|a| {
        let data = p as usize;
        if a.end.get() == 0 || a.last.get() != data {
            return false;
        }
        match data.checked_add(size) {
            Some(top) if top <= a.end.get() => {
                a.top.set(top);
                // SAFETY: as in `alloc`: the header of the last block of this thread's slot.
                unsafe { ptr::write((data - HEADER) as *mut usize, size) };
                true
            }
            _ => false,
        }
    })
}

/// A tag on a document built in a scope (see [`adopt`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Adopted {
    slot: usize,
    /// Every block of the document came from the arena, so dropping it needs no tree walk.
    pub(super) whole: bool,
}

/// Counts a document just built, if its memory is in this thread's open scope; the scope
/// then keeps its slot until [`release`] is called for it.
pub(super) fn adopt(doc: *const c_void) -> Option<Adopted> {
    ARENA.with(|a| {
        let base = a.base.get();
        if a.scope_end.get() == 0 || !(base..a.scope_end.get()).contains(&(doc as usize)) {
            return None;
        }
        let slot = index_of(base);
        LIVE[slot].fetch_add(1, Ordering::Relaxed);
        Some(Adopted {
            slot,
            whole: !a.overflowed.get(),
        })
    })
}

/// The document tagged `tag` is gone (freed, or handed to libxslt within the scope).
pub(super) fn release(tag: Adopted) {
    LIVE[tag.slot].fetch_sub(1, Ordering::Release);
}

/// Whether this thread is in an open scope whose every block so far came from the arena.
pub(super) fn whole() -> bool {
    ARENA.with(|a| a.scope_end.get() != 0 && !a.overflowed.get())
}

/// One page render's window; libxml2 allocations go to the arena until it drops.
pub(super) struct Scope(());

/// Opens a scope on this thread: `None` when one is already open (the outer one covers
/// this render), or when no slot is available (mimalloc alone then).
pub(super) fn enter() -> Option<Scope> {
    ARENA.with(|a| {
        if a.scope_end.get() != 0 || BASE.load(Ordering::Acquire) == 0 {
            return None;
        }
        if a.base.get() == 0 {
            let slot = take_slot()?;
            a.base.set(BASE.load(Ordering::Relaxed) + slot * SLOT);
            // Registers the destructor that gives the slot back.
            SLOT_OWNER.with(|_| ());
        }
        let base = a.base.get();
        a.top.set(base);
        a.last.set(0);
        a.overflowed.set(false);
        a.scope_end.set(base + SLOT);
        a.end.set(base + SLOT);
        Some(Scope(()))
    })
}

impl Drop for Scope {
    fn drop(&mut self) {
        ARENA.with(|a| {
            let base = a.base.get();
            let used = a.top.get() - base;
            a.end.set(0);
            a.scope_end.set(0);
            a.last.set(0);
            a.top.set(base);
            let slot = index_of(base);
            if LIVE[slot].load(Ordering::Acquire) != 0 {
                // A document outlived its render: keep its memory valid for good. Never
                // happens in Vitrine's own code paths (debug builds stop here).
                a.base.set(0);
                tracing::error!(
                    "a document outlived its page render; its arena slot is set aside \
                     (a bug in Vitrine: please report it)"
                );
                debug_assert!(false, "a document escaped its render arena");
                return;
            }
            #[cfg(debug_assertions)]
            // SAFETY: `base .. base + used` is this thread's slot, in which no block is in
            // use any more (the scope is closed and no document counts it).
            unsafe {
                ptr::write_bytes(base as *mut u8, POISON, used)
            };
            if used > KEEP {
                let page = 4096;
                let from = (base + KEEP + page - 1) & !(page - 1);
                let to = (base + used + page - 1) & !(page - 1);
                // SAFETY: whole pages of this thread's slot, holding nothing in use; the
                // mapping stays, and reads as zeroes until written again.
                unsafe { libc::madvise(from as *mut c_void, to - from, libc::MADV_DONTNEED) };
            }
        });
    }
}

/// While alive, this thread's allocations go to mimalloc even inside a scope: for objects
/// that outlive the render (see the module doc).
pub(super) struct Suspended(usize);

/// Suspends this thread's scope, if one is open, until the guard drops.
pub(super) fn suspend() -> Suspended {
    Suspended(ARENA.with(|a| a.end.replace(0)))
}

impl Drop for Suspended {
    fn drop(&mut self) {
        ARENA.with(|a| a.end.set(self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `test` on a new thread (its arena state starts empty), the reservation made.
    fn on_fresh_thread(test: impl FnOnce() + Send + 'static) {
        reserve();
        assert_ne!(BASE.load(Ordering::Acquire), 0);
        std::thread::spawn(test).join().unwrap();
    }

    #[test]
    fn blocks_are_aligned_sized_and_distinct() {
        on_fresh_thread(|| {
            let scope = enter().expect("a slot");
            let a = alloc(3).unwrap();
            let b = alloc(100).unwrap();
            assert!(owns(a) && owns(b));
            assert_eq!(a as usize % ALIGN, 0);
            assert_eq!(b as usize % ALIGN, 0);
            assert!(b as usize >= a as usize + 3);
            // SAFETY: both are arena blocks.
            unsafe {
                assert_eq!(size_of(a), 3);
                assert_eq!(size_of(b), 100);
            }
            assert!(
                !resize_in_place(a, 50),
                "only the last block grows in place"
            );
            assert!(resize_in_place(b, 5000));
            // SAFETY: as above.
            assert_eq!(unsafe { size_of(b) }, 5000);
            let c = alloc(1).unwrap();
            assert!(c as usize >= b as usize + 5000);
            drop(scope);
            assert!(alloc(8).is_none(), "no scope, no arena");
            let again = enter().expect("the same slot");
            assert_eq!(alloc(3).unwrap(), a, "a closed scope's memory is reused");
            drop(again);
        });
    }

    #[test]
    fn scopes_do_not_nest_and_suspend_goes_to_the_system() {
        on_fresh_thread(|| {
            let scope = enter().expect("a slot");
            assert!(enter().is_none());
            {
                let _plain = suspend();
                assert!(alloc(16).is_none());
            }
            assert!(alloc(16).is_some());
            drop(scope);
        });
    }

    #[test]
    fn a_render_larger_than_a_slot_overflows_to_mimalloc() {
        on_fresh_thread(|| {
            let _scope = enter().expect("a slot");
            assert!(whole());
            assert!(alloc(SLOT).is_none());
            assert!(!whole());
            assert!(alloc(64).is_some(), "smaller blocks still fit");
        });
    }

    #[test]
    fn a_scope_left_with_a_live_document_gives_up_its_slot() {
        on_fresh_thread(|| {
            let scope = enter().expect("a slot");
            let doc = alloc(64).unwrap();
            let tag = adopt(doc).expect("built in the scope");
            let base = ARENA.with(|a| a.base.get());
            // Release builds keep the memory and set the slot aside; debug builds assert.
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(scope)));
            assert_eq!(dropped.is_err(), cfg!(debug_assertions));
            assert_eq!(ARENA.with(|a| a.base.get()), 0, "the slot is not reused");
            assert!(owns(doc));
            release(tag);
            let next = enter().expect("another slot");
            assert_ne!(ARENA.with(|a| a.base.get()), base);
            drop(next);
        });
    }
}
