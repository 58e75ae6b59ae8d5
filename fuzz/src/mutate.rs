//! A small byte mutator for the corpus loop: the usual bit flips, deletions, duplications and
//! splices, plus the transformations the filter's parsers are most likely to get wrong — an
//! ASCII byte replaced by its percent-escape or JSON `\u` escape, an ASCII letter by a Unicode
//! character Go's case folding maps onto it, and dictionary tokens.

/// xorshift64*: fast, seedable, good enough to pick mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`0` when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Characters Go's `encoding/json` folds onto ASCII letters (`unicode.SimpleFold` orbits):
/// `ſ`→s, Kelvin `K`→k, `ı`→i, `İ`→i.
pub const FOLDS: [(u8, &str); 5] = [
    (b's', "\u{17f}"),
    (b'k', "\u{212a}"),
    (b'i', "\u{131}"),
    (b'i', "\u{130}"),
    (b'S', "\u{17f}"),
];

const INTERESTING: &[u8] = b"\0\xff\"\\%/.{}[],: \t\n+?#~0aZ";

fn hex(b: u8) -> [u8; 2] {
    const H: &[u8; 16] = b"0123456789ABCDEF";
    [H[usize::from(b >> 4)], H[usize::from(b & 15)]]
}

/// Apply one to four random mutations. `others` are inputs to splice from.
pub fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>], dict: &[&str]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        mutate_once(rng, &mut out, others, dict);
    }
    if out.len() > 64 * 1024 {
        out.truncate(64 * 1024);
    }
    out
}

fn mutate_once(rng: &mut Rng, out: &mut Vec<u8>, others: &[Vec<u8>], dict: &[&str]) {
    let len = out.len();
    let at = rng.below(len + 1);
    match rng.below(11) {
        0 if len > 0 => {
            let i = rng.below(len);
            out[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            out[i] = INTERESTING[rng.below(INTERESTING.len())];
        }
        2 if !dict.is_empty() => {
            let tok = dict[rng.below(dict.len())].as_bytes();
            out.splice(at..at, tok.iter().copied());
        }
        3 if len > 0 => {
            let n = 1 + rng.below((len - at.min(len - 1)).min(16));
            let start = at.min(len - 1);
            let end = (start + n).min(len);
            out.drain(start..end);
        }
        4 if len > 0 => {
            let start = rng.below(len);
            let n = 1 + rng.below((len - start).min(64));
            let piece = out[start..start + n].to_vec();
            let to = rng.below(len + 1);
            out.splice(to..to, piece);
        }
        5 if !others.is_empty() => {
            let other = &others[rng.below(others.len())];
            if !other.is_empty() {
                let start = rng.below(other.len());
                let n = 1 + rng.below((other.len() - start).min(128));
                let piece = &other[start..start + n];
                if rng.chance(2) {
                    out.truncate(at);
                }
                let at = at.min(out.len());
                out.splice(at..at, piece.iter().copied());
            }
        }
        6 => {
            // Percent-escape one ASCII byte (paths, queries).
            if let Some(i) = pick_ascii(rng, out) {
                let [h, l] = hex(out[i]);
                out.splice(i..=i, [b'%', h, l]);
            }
        }
        7 => {
            // JSON-escape one ASCII byte (`a` → `\u0061`, `/` → `\/`).
            if let Some(i) = pick_ascii(rng, out) {
                if out[i] == b'/' && rng.chance(2) {
                    out.splice(i..=i, [b'\\', b'/']);
                } else {
                    let [h, l] = hex(out[i]);
                    out.splice(i..=i, [b'\\', b'u', b'0', b'0', h, l]);
                }
            }
        }
        8 => {
            // A letter replaced by a character that case-folds onto it in Go.
            let candidates: Vec<usize> = out
                .iter()
                .enumerate()
                .filter(|(_, b)| FOLDS.iter().any(|(a, _)| a == *b))
                .map(|(i, _)| i)
                .collect();
            if !candidates.is_empty() {
                let i = candidates[rng.below(candidates.len())];
                let choices: Vec<&str> = FOLDS
                    .iter()
                    .filter(|(a, _)| *a == out[i])
                    .map(|(_, s)| *s)
                    .collect();
                let s = choices[rng.below(choices.len())];
                out.splice(i..=i, s.bytes());
            }
        }
        9 if len > 0 => {
            // Truncate: half a document, half an escape.
            out.truncate(rng.below(len));
        }
        _ => {
            // Case of one ASCII letter.
            if let Some(i) = pick_ascii(rng, out) {
                out[i] = if out[i].is_ascii_lowercase() {
                    out[i].to_ascii_uppercase()
                } else {
                    out[i].to_ascii_lowercase()
                };
            }
        }
    }
}

fn pick_ascii(rng: &mut Rng, out: &[u8]) -> Option<usize> {
    if out.is_empty() {
        return None;
    }
    for _ in 0..8 {
        let i = rng.below(out.len());
        if out[i].is_ascii_graphic() {
            return Some(i);
        }
    }
    None
}
