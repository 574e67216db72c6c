//! The plugin's global allocator on wasm: small blocks are kept for reuse.
//!
//! Every event a plugin handles allocates and frees the same few small blocks: the
//! text the gateway writes into the guest, the `Vec<Command>` an answer is, the list
//! the answer is written into. The default allocator (wasi-libc's dlmalloc) spends
//! ~100 instructions on each `malloc` and `free`; that was ~730 of the ~6,000
//! instructions the gateway spends per echoed message, all told. With this one
//! (`scripts/instructions.sh`, echo built both ways, alternating): 5,968 → 5,403
//! instructions per message at 16 per write (−9.5 %), 11,012 → 10,570 at one in
//! flight; the echo component grows from 74 to 98 KB, the pop inlined at every
//! allocation site (the way to `System` is kept out of line).
//!
//! [`SmallBlocks`] keeps freed blocks of up to [`MAX_SMALL`] bytes on a free list per
//! 16-byte size class and hands them out again last in, first out: an allocation
//! that finds its class's list non-empty is a pop, a free is a push. Rust hands the
//! size of a block back when it is freed (`Layout`), so a block needs no header.
//! Anything else (larger blocks, alignments over 8, a class whose list is empty)
//! goes to the system allocator, and blocks are cached only up to [`MAX_CACHED`]
//! bytes in all, so a plugin that once freed many small blocks gives the excess
//! back to the system allocator instead of keeping it per class.
//!
//! The `allocator` feature (on by default) makes it the global allocator of a
//! wasm build; a plugin that sets its own `#[global_allocator]` turns the feature
//! off. Components are single-threaded (`wasm32-wasip2` has no threads), which is
//! what makes the unsynchronized lists sound; a build with the `atomics` target
//! feature keeps the system allocator.

#![allow(unsafe_code, reason = "an allocator is unsafe code by its nature")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// The size classes' step, in bytes; also the smallest block.
const STEP: usize = 16;
/// The largest block kept for reuse, in bytes.
pub const MAX_SMALL: usize = 1024;
/// The most bytes kept on the free lists in all.
pub const MAX_CACHED: usize = 256 * 1024;
/// The largest alignment a kept block serves: what every block from [`System`] of
/// a class's size has.
const ALIGN: usize = 8;
/// The number of size classes.
const CLASSES: usize = MAX_SMALL / STEP;

/// Free lists of small blocks in front of the system allocator (see the module).
pub struct SmallBlocks {
    lists: UnsafeCell<Lists>,
}

/// The free lists: the first word of a free block points to the next one.
struct Lists {
    heads: [*mut u8; CLASSES],
    cached: usize,
}

// SAFETY: a component runs on one thread (wasm without `atomics` has no threads):
// the lists are never touched by two threads. Native builds have threads, so there
// it is not `Sync` and cannot be a global allocator.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for SmallBlocks {}

impl SmallBlocks {
    /// An allocator with empty lists.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            lists: UnsafeCell::new(Lists {
                heads: [ptr::null_mut(); CLASSES],
                cached: 0,
            }),
        }
    }
}

impl Default for SmallBlocks {
    fn default() -> Self {
        Self::new()
    }
}

/// The size class of `layout` (its index), or `None` when the block is not small.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    (size != 0 && size <= MAX_SMALL && layout.align() <= ALIGN).then(|| (size - 1) / STEP)
}

/// The layout of every block of size class `class`.
fn class_layout(class: usize) -> Layout {
    // A multiple of 16 up to 1024 with alignment 8 is always a valid layout.
    Layout::from_size_align((class + 1) * STEP, ALIGN).unwrap_or(Layout::new::<[u64; 2]>())
}

/// A block from `System`: out of line and cold, so that what every allocation site
/// gets inlined is only the free list's pop.
#[cold]
#[inline(never)]
unsafe fn system_alloc(layout: Layout) -> *mut u8 {
    // SAFETY: the caller's contract, passed on.
    unsafe { System.alloc(layout) }
}

/// A block back to `System`: out of line and cold, as [`system_alloc`].
#[cold]
#[inline(never)]
unsafe fn system_dealloc(block: *mut u8, layout: Layout) {
    // SAFETY: the caller's contract, passed on.
    unsafe { System.dealloc(block, layout) }
}

// SAFETY: small blocks come from `System` with their class's layout and go back to a
// list (or to `System` with that same layout); a block on a list is not in use, and
// its first word (every block has at least 16 bytes, aligned to 8) holds the next
// free block. Everything else is `System`'s, called with the caller's layouts.
unsafe impl GlobalAlloc for SmallBlocks {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class(layout) else {
            // SAFETY: the caller's contract, passed on.
            return unsafe { system_alloc(layout) };
        };
        // SAFETY: one thread (see `Sync`), and no reference into the lists outlives
        // this call.
        let lists = unsafe { &mut *self.lists.get() };
        let head = lists.heads[class];
        if head.is_null() {
            // SAFETY: a non-zero size.
            return unsafe { system_alloc(class_layout(class)) };
        }
        // SAFETY: `head` is a free block of this class: its first word is the next.
        lists.heads[class] = unsafe { head.cast::<*mut u8>().read() };
        lists.cached -= class_layout(class).size();
        head
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class(layout) else {
            // SAFETY: the caller's contract, passed on.
            return unsafe { system_dealloc(block, layout) };
        };
        let size = class_layout(class).size();
        // SAFETY: as in `alloc`.
        let lists = unsafe { &mut *self.lists.get() };
        if lists.cached + size > MAX_CACHED {
            // SAFETY: the block came from `System` with its class's layout.
            return unsafe { system_dealloc(block, class_layout(class)) };
        }
        // SAFETY: the block is the caller's no more, at least 16 bytes, aligned to 8.
        unsafe { block.cast::<*mut u8>().write(lists.heads[class]) };
        lists.heads[class] = block;
        lists.cached += size;
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees that `new_size` with this alignment is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new_layout)) {
            (Some(old), Some(new)) if old == new => block,
            // SAFETY: the caller's contract, passed on.
            _ => unsafe { self.realloc_moved(block, layout, new_layout) },
        }
    }
}

impl SmallBlocks {
    /// A `realloc` that leaves its size class: out of line, so that every growing
    /// `Vec` does not get a copy of it.
    #[inline(never)]
    unsafe fn realloc_moved(&self, block: *mut u8, layout: Layout, new_layout: Layout) -> *mut u8 {
        if class(layout).is_none() && class(new_layout).is_none() {
            // SAFETY: neither is small: the block is `System`'s, with `layout`.
            return unsafe { System.realloc(block, layout, new_layout.size()) };
        }
        // SAFETY: the caller's contract: `new_layout` is valid and non-zero.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks are live and at least this long; they are distinct,
            // since `block` is not freed yet.
            unsafe {
                ptr::copy_nonoverlapping(block, moved, layout.size().min(new_layout.size()));
                self.dealloc(block, layout);
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_map_to_16_byte_classes_up_to_1_kib_and_no_further() {
        let at = |size, align| class(Layout::from_size_align(size, align).unwrap());
        assert_eq!(at(1, 1), Some(0));
        assert_eq!(at(16, 8), Some(0));
        assert_eq!(at(17, 1), Some(1));
        assert_eq!(at(MAX_SMALL, 8), Some(CLASSES - 1));
        assert_eq!(at(MAX_SMALL + 1, 1), None);
        assert_eq!(at(0, 1), None);
        assert_eq!(at(32, 16), None, "alignments over 8 go to the system");
        assert_eq!(class_layout(CLASSES - 1).size(), MAX_SMALL);
    }

    #[test]
    fn a_freed_block_is_the_next_of_its_class_and_keeps_its_bytes_when_moved() {
        let blocks = SmallBlocks::new();
        let small = Layout::from_size_align(24, 8).unwrap();
        // SAFETY: layouts are non-zero; each block is freed once, with its layout.
        unsafe {
            let a = blocks.alloc(small);
            blocks.dealloc(a, small);
            let b = blocks.alloc(Layout::from_size_align(30, 4).unwrap());
            assert_eq!(a, b, "the same class reuses the freed block");
            b.copy_from(b"0123456789abcdefghijklmnopqrst".as_ptr(), 30);
            let grown = blocks.realloc(b, Layout::from_size_align(30, 4).unwrap(), 4000);
            assert_eq!(
                std::slice::from_raw_parts(grown, 30),
                b"0123456789abcdefghijklmnopqrst"
            );
            let shrunk = blocks.realloc(grown, Layout::from_size_align(4000, 4).unwrap(), 20);
            assert_eq!(
                std::slice::from_raw_parts(shrunk, 20),
                b"0123456789abcdefghij"
            );
            blocks.dealloc(shrunk, Layout::from_size_align(20, 4).unwrap());
        }
    }

    #[test]
    fn no_more_than_max_cached_bytes_are_kept() {
        let blocks = SmallBlocks::new();
        let layout = Layout::from_size_align(MAX_SMALL, 8).unwrap();
        let count = MAX_CACHED / MAX_SMALL + 10;
        // SAFETY: as above.
        unsafe {
            let all: Vec<*mut u8> = (0..count).map(|_| blocks.alloc(layout)).collect();
            for &block in &all {
                blocks.dealloc(block, layout);
            }
            assert_eq!((*blocks.lists.get()).cached, MAX_CACHED);
            let again: Vec<*mut u8> = (0..count).map(|_| blocks.alloc(layout)).collect();
            assert_eq!((*blocks.lists.get()).cached, 0);
            for &block in &again {
                blocks.dealloc(block, layout);
            }
        }
    }
}
