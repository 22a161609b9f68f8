//! A fast, seedless 64-bit content hash over a `Value` walked in document order. Stable across
//! processes and versions (it is stored in shared state), allocation-free, and cheap enough for
//! the per-request path; it detects changed bytes, it is not a cryptographic digest.
//! `cache_control` markers are skipped, so a governed request hashes like the original.

use serde_json::Value;

const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Incremental hasher.
#[derive(Clone, Copy)]
pub struct ContentHasher(u64);

impl Default for ContentHasher {
    fn default() -> Self {
        Self(0x243F_6A88_85A3_08D3)
    }
}

impl ContentHasher {
    #[inline]
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(K);
        self.0 ^= self.0 >> 29;
    }

    /// Feeds bytes (length-prefixed, so concatenations differ).
    pub fn bytes(&mut self, b: &[u8]) {
        self.word(b.len() as u64);
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(buf));
        }
    }

    /// Feeds a tag or number.
    pub fn u64(&mut self, x: u64) {
        self.word(x);
    }

    /// Feeds a JSON value in document order; returns the bytes of text seen (for token
    /// estimates).
    pub fn value(&mut self, v: &Value) -> usize {
        match v {
            Value::Null => {
                self.word(1);
                4
            }
            Value::Bool(b) => {
                self.word(2 + u64::from(*b));
                5
            }
            Value::Number(n) => {
                self.word(4);
                self.word(n.as_f64().unwrap_or(0.0).to_bits());
                4
            }
            Value::String(s) => {
                self.word(5);
                self.bytes(s.as_bytes());
                s.len()
            }
            Value::Array(a) => {
                self.word(6);
                a.iter().map(|x| self.value(x)).sum::<usize>() + 2
            }
            Value::Object(m) => {
                self.word(7 + ((m.len() as u64) << 8));
                let mut n = 2;
                for (k, x) in m {
                    // Cache markers are not content (providers match prefixes without them).
                    if k == "cache_control" {
                        continue;
                    }
                    self.bytes(k.as_bytes());
                    n += k.len() + self.value(x);
                }
                n
            }
        }
    }

    /// The digest.
    pub fn finish(self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^ (h >> 33)
    }
}

/// Hash of one value.
pub fn hash_value(v: &Value) -> u64 {
    let mut h = ContentHasher::default();
    h.value(v);
    h.finish()
}
