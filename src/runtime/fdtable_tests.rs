//! Unit tests of the fd table, on tables of their own (not the process's).

use crate::runtime::fdtable::*;
use crate::runtime::thread::Green;

fn table() -> Box<FdTable> {
    Box::new(FdTable::new())
}

/// The description's reference count, through the entry's private pointer.
fn refs(entry: &FdEntry) -> u32 {
    // SAFETY: a non-null desc is live while an entry names it.
    unsafe { entry.desc.as_ref() }.map_or(0, |desc| desc.refs)
}

#[test]
fn entries_are_allocated_by_chunk_on_first_use() {
    let table = table();
    // SAFETY: here and in the tests below ("as above"), one test thread owns its table, and
    // no entry reference is used after another is fetched for the same number.
    unsafe {
        assert!(table.existing(5).is_none(), "no chunk yet");
        assert!(table.entry(-1).is_none());
        assert!(table.entry((MAX_CHUNKS * CHUNK) as i32).is_none(), "past the table");
        let entry = table.entry(5).expect("allocated");
        assert_eq!(entry.generation, 0);
        assert_eq!(entry.registration, Registration::No);
        assert!(entry.ready(READ) && entry.ready(WRITE), "an all-zero entry means try it");
        assert!(entry.kind().is_none());
        assert!(table.existing(1023).is_some(), "the whole chunk exists");
        assert!(table.existing(1024).is_none(), "the next chunk does not");
        let mut seen = 0;
        table.for_each(|_, _| seen += 1);
        assert_eq!(seen, CHUNK);
    }
}

#[test]
fn closing_changes_the_generation_and_forgets_the_file() {
    let table = table();
    // SAFETY: as above.
    unsafe {
        let entry = table.entry(7).unwrap();
        entry.adopt(Kind::Pipe, true, false);
        entry.registration = Registration::Yes;
        entry.clear_ready(READ);
        entry.read_closed = true;
        let before = entry.generation;
        entry.forget();
        let entry = table.existing(7).unwrap();
        assert_eq!(entry.generation, before.wrapping_add(1));
        assert!(entry.view().is_none());
        assert_eq!(entry.registration, Registration::No);
        assert!(entry.ready(READ) && !entry.read_closed);
    }
}

#[test]
fn adopt_records_the_description() {
    let table = table();
    // SAFETY: as above.
    unsafe {
        let entry = table.entry(3).unwrap();
        entry.adopt(Kind::StreamSocket, true, false);
        let view = entry.view().unwrap();
        assert_eq!(view, DescView { kind: Kind::StreamSocket, owned_nonblock: true, user_nonblock: false });
        assert_eq!(refs(entry), 1);
        // A new description behind the same number replaces the old one.
        let generation = entry.generation;
        entry.adopt(Kind::Pipe, false, true);
        assert_eq!(entry.kind(), Some(Kind::Pipe));
        assert_eq!(entry.generation, generation.wrapping_add(1));
        assert_eq!(refs(entry), 1);
    }
}

#[test]
fn dup_shares_the_description_and_counts_it() {
    let table = table();
    // SAFETY: as above; numbers 3 and 4 are different entries.
    unsafe {
        table.entry(3).unwrap().adopt(Kind::StreamSocket, true, false);
        let source = table.entry(3).unwrap();
        let target = table.entry(4).unwrap();
        target.share(source);
        assert_eq!(refs(source), 2);
        assert!(core::ptr::eq(source.desc, target.desc));
        // The program's view is the description's: a change through one fd shows in both.
        target.desc().unwrap().user_nonblock = true;
        assert!(source.view().unwrap().user_nonblock);
        source.forget();
        assert_eq!(refs(target), 1, "the dup keeps the description alive");
        assert_eq!(target.kind(), Some(Kind::StreamSocket));
        target.forget();
        assert!(target.view().is_none());
    }
}

#[test]
fn sharing_an_unknown_fd_leaves_the_target_unknown() {
    let table = table();
    // SAFETY: as above.
    unsafe {
        table.entry(9).unwrap().adopt(Kind::Pipe, false, false);
        let source = table.entry(8).unwrap();
        let target = table.entry(9).unwrap();
        target.share(source);
        assert!(target.view().is_none());
    }
}

#[test]
fn waiters_are_listed_by_interest_and_unlinked_once() {
    let table = table();
    let mut readers = Box::new(Green::new(1));
    let mut writer = Box::new(Green::new(2));
    let mut read_node = WaitNode::new(&mut *readers, READ);
    let mut write_node = WaitNode::new(&mut *writer, WRITE);
    let mut both_node = WaitNode::new(&mut *readers, READ | WRITE);
    // SAFETY: as above; the nodes outlive their links.
    unsafe {
        let entry = table.entry(11).unwrap();
        assert!(!entry.has_waiters());
        entry.link(&mut read_node);
        entry.link(&mut write_node);
        entry.link(&mut both_node);
        assert!(entry.has_waiters());
        let ids = |entry: &FdEntry, interest| entry.waiters(interest).map(|g| (*g).id).collect::<Vec<_>>();
        assert_eq!(ids(entry, READ), [1, 1]);
        assert_eq!(ids(entry, WRITE), [1, 2]);
        assert_eq!(ids(entry, READ | WRITE).len(), 3);
        entry.unlink(&mut write_node);
        assert_eq!(ids(entry, WRITE), [1]);
        entry.unlink(&mut both_node);
        entry.unlink(&mut read_node);
        assert!(!entry.has_waiters());
    }
}

#[test]
fn a_new_hub_forgets_registrations_and_waiters_but_keeps_descriptions() {
    let table = table();
    let mut g = Box::new(Green::new(1));
    let mut node = WaitNode::new(&mut *g, READ);
    // SAFETY: as above.
    unsafe {
        let entry = table.entry(12).unwrap();
        entry.adopt(Kind::Pipe, true, false);
        entry.registration = Registration::Yes;
        entry.clear_ready(WRITE);
        entry.link(&mut node);
        entry.forget_hub_state();
        assert_eq!(entry.registration, Registration::No);
        assert!(!entry.has_waiters() && entry.ready(WRITE));
        assert_eq!(entry.kind(), Some(Kind::Pipe));
        entry.registration = Registration::Unpollable;
        entry.forget_hub_state();
        assert_eq!(entry.registration, Registration::Unpollable, "a regular file stays one");
    }
}
