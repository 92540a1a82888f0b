//! The hasher of the runtime's maps (and the hooks' side tables).

/// Hashes addresses and pthread_t values: they are already well spread, and std's default
/// hasher would seed itself through getrandom on first use.
#[derive(Clone, Copy, Default)]
pub struct AddressHasher;

impl core::hash::BuildHasher for AddressHasher {
    type Hasher = AddressHash;
    fn build_hasher(&self) -> AddressHash {
        AddressHash(0)
    }
}

pub struct AddressHash(u64);

impl core::hash::Hasher for AddressHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Fibonacci hashing; the high bits feed hashbrown's control bytes.
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}
