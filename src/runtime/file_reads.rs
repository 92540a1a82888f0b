//! How a regular file's reads may wait: learnt once per open file description (fdclass.rs),
//! kept in its record (fdtable.rs), followed by the read hooks (hooks/file.rs). A leaf of
//! the runtime.

/// What decides whether a read of a regular file waits for a device.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum FileReads {
    /// preadv2(RWF_NOWAIT) takes at once what the page cache holds; only the rest waits.
    #[default]
    PageCache,
    /// O_DIRECT: every read goes to the device, and RWF_NOWAIT does not make one wait less
    /// (it refuses only what would wait for a lock or an allocation).
    Direct,
    /// A file system without RWF_NOWAIT whose reads may wait for a device or the network.
    Waits,
    /// A file system without RWF_NOWAIT that answers from memory.
    Memory,
}

/// File systems whose reads never wait for a device (statfs f_type, linux/magic.h): tmpfs,
/// ramfs, hugetlbfs, procfs, sysfs, cgroup and cgroup2, devpts, debugfs, tracefs,
/// securityfs, configfs, bpf, efivarfs, pstore, selinuxfs, binfmt_misc, mqueue.
const IN_MEMORY: [i64; 18] = [
    0x0102_1994,
    0x8584_58f6,
    0x9584_58f6,
    0x9fa0,
    0x6265_6572,
    0x0027_e0eb,
    0x6367_7270,
    0x1cd1,
    0x6462_6720,
    0x7472_6163,
    0x7363_6673,
    0x6265_6570,
    0xcafe_4a11,
    0xde5e_81e4,
    0x6165_676c,
    0xf97c_ff8c,
    0x4249_4e4d,
    0x1980_0202,
];

/// For a file system that refused RWF_NOWAIT: whether its reads may wait, by its type.
/// Any type not known to live in memory (NFS, FUSE, SMB, a block file system without
/// RWF_NOWAIT) is taken to wait.
pub fn without_nowait(file_system_type: i64) -> FileReads {
    if IN_MEMORY.contains(&file_system_type) {
        FileReads::Memory
    } else {
        FileReads::Waits
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::file_reads::{without_nowait, FileReads};

    #[test]
    fn memory_file_systems_stay_inline_and_others_wait() {
        // tmpfs, procfs, sysfs; NFS, FUSE, and ext2's magic (ext4 shares it, but has NOWAIT).
        for memory in [0x0102_1994, 0x9fa0, 0x6265_6572] {
            assert_eq!(without_nowait(memory), FileReads::Memory);
        }
        for device in [0x6969, 0x6573_5546, 0xef53] {
            assert_eq!(without_nowait(device), FileReads::Waits);
        }
    }
}
