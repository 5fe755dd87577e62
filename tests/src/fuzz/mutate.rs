//! Structure-aware mutations: byte-level ones that know about varints and length prefixes, and
//! token-level ones for the text formats (TOML, JSON, CSV).

/// A small, fast, seedable generator (SplitMix64): the driver's runs are reproducible from the
/// seed alone, and the generator costs nothing next to the decoders.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// A short range inside `0..len`: (start, end), never empty when `len > 0`.
    fn range(&mut self, len: usize) -> (usize, usize) {
        let start = self.below(len);
        let max = (len - start).min(if self.one_in(4) { 4096 } else { 32 });
        let n = 1 + self.below(max.max(1));
        (start, (start + n).min(len))
    }
}

const INTERESTING_8: &[u8] = &[0, 1, 0x7f, 0x80, 0x81, 0xff, 0xfe, 0x40, 0x3f, 0x20];
const INTERESTING_32: &[u32] = &[
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    4096,
    4097,
    64 * 1024 * 1024,
    64 * 1024 * 1024 + 1,
];
const INTERESTING_64: &[u64] = &[
    0,
    1,
    u64::MAX,
    u64::MAX - 1,
    i64::MAX as u64,
    1 << 32,
    1 << 53,
];

/// Overlong, maximal and over-maximal postcard varints.
const VARINTS: &[&[u8]] = &[
    &[0x80, 0x00],
    &[0x81, 0x80, 0x00],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0xff, 0xff, 0xff, 0xff, 0x1f],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
    &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
    &[
        0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
    ],
    &[0x80, 0x80, 0x80, 0x40],
    &[0x7f],
    &[0x00],
];

/// Mutate binary `data` in place with 1 to 4 stacked byte-level edits; `other` is another input
/// to splice from; the result is at most `max_len` bytes.
pub fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], max_len: usize) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        mutate_once(rng, data, other);
    }
    data.truncate(max_len);
}

fn mutate_once(rng: &mut Rng, d: &mut Vec<u8>, other: &[u8]) {
    if d.is_empty() {
        let n = rng.below(16);
        d.extend((0..n).map(|_| rng.next_u64() as u8));
        return;
    }
    let len = d.len();
    match rng.below(14) {
        0 => {
            let i = rng.below(len);
            d[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(len);
            d[i] = *rng.pick(INTERESTING_8);
        }
        2 => {
            let i = rng.below(len);
            let delta = 1 + rng.below(16) as u8;
            d[i] = if rng.one_in(2) {
                d[i].wrapping_add(delta)
            } else {
                d[i].wrapping_sub(delta)
            };
        }
        3 => {
            // A varint in place of one byte (or of a run that looks like a varint).
            let i = rng.below(len);
            let mut end = i;
            while end < len && d[end] & 0x80 != 0 && end - i < 9 {
                end += 1;
            }
            let end = (end + 1).min(len);
            let v = *rng.pick(VARINTS);
            d.splice(i..end, v.iter().copied());
        }
        4 => {
            // An overlong encoding of the same small value: b -> [b | 0x80, 0x00].
            let i = rng.below(len);
            if d[i] < 0x80 {
                let b = d[i];
                d.splice(i..=i, [b | 0x80, 0x00]);
            }
        }
        5 => {
            // A 32-bit length prefix (either byte order) or a 64-bit count.
            let v = match rng.below(3) {
                0 => (len as u32)
                    .wrapping_add(rng.below(3) as u32)
                    .wrapping_sub(1),
                _ => *rng.pick(INTERESTING_32),
            };
            let bytes = if rng.one_in(2) {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            };
            let i = if rng.one_in(3) { 0 } else { rng.below(len) };
            for (k, b) in bytes.iter().enumerate() {
                if let Some(x) = d.get_mut(i + k) {
                    *x = *b;
                }
            }
        }
        6 => {
            let v = rng.pick(INTERESTING_64).to_le_bytes();
            let i = rng.below(len);
            for (k, b) in v.iter().enumerate() {
                if let Some(x) = d.get_mut(i + k) {
                    *x = *b;
                }
            }
        }
        7 => {
            let i = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            d.splice(i..i, bytes);
        }
        8 => {
            let (a, b) = rng.range(len);
            d.drain(a..b);
        }
        9 => {
            let (a, b) = rng.range(len);
            let chunk = d[a..b].to_vec();
            let at = rng.below(d.len() + 1);
            d.splice(at..at, chunk);
        }
        10 => {
            if !other.is_empty() {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                d.truncate(cut);
                d.extend_from_slice(&other[from..]);
            }
        }
        11 => {
            let n = rng.below(len);
            d.truncate(n);
        }
        12 => {
            let (a, b) = rng.range(len);
            for x in &mut d[a..b] {
                *x = rng.next_u64() as u8;
            }
        }
        _ => {
            // Swap two ranges' worth of content: reorders fields and entries.
            let (a, b) = rng.range(len);
            let chunk: Vec<u8> = d.drain(a..b).collect();
            let at = rng.below(d.len() + 1);
            d.splice(at..at, chunk);
        }
    }
}

const NUMBERS: &[&str] = &[
    "1e300",
    "-1e300",
    "1e309",
    "NaN",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "+inf",
    "-0",
    "-0.0",
    "0",
    "-1",
    "1e-320",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "4294967296",
    "99999999999999999999999999999999",
    "1_000",
    "0x10",
    "0o7",
    "+5",
    "\"5\"",
    "1979-05-27T07:32:00Z",
    "true",
    "[]",
    "{}",
];

const TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    "\"",
    "'",
    "'''",
    "\"\"\"",
    ",",
    ":",
    "#",
    "\n",
    "\r\n",
    "\\",
    "\\u0000",
    "\\uD800",
    "[x]\n",
    "[[x]]\n",
    "a.b.c = 1\n",
    "key = 1\n",
    "\u{feff}",
    "é",
    "\u{0}",
    "null",
    "true",
    "-",
    ".",
    "e",
    "\t",
    "[a]\n[a]\n",
];

const STRINGS: &[&str] = &[
    "",
    " ",
    "\\\"",
    "../../../etc/passwd",
    "/ip4/1.2.3.4/tcp/99999",
    "/ip6/::1/tcp/0/p2p/xyz",
    "256.256.256.256:99999",
    "[::1]:0",
    "ｅｘａｍｐｌｅ",
    "\u{202e}",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "zz",
];

/// Mutate text `data` in place: token-level edits (numbers swapped for extreme values, quotes
/// deleted, lines dropped or repeated, strings replaced) mixed with byte-level ones.
pub fn mutate_text(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], max_len: usize) {
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        if rng.one_in(5) {
            mutate_once(rng, data, other);
        } else {
            mutate_text_once(rng, data, other);
        }
    }
    data.truncate(max_len);
}

/// Byte ranges of numbers (digits with signs, dots, exponents, underscores).
fn numbers(d: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < d.len() {
        if d[i].is_ascii_digit() {
            let mut s = i;
            if s > 0 && (d[s - 1] == b'-' || d[s - 1] == b'+') {
                s -= 1;
            }
            let mut e = i;
            while e < d.len()
                && (d[e].is_ascii_alphanumeric() || matches!(d[e], b'.' | b'_' | b'+' | b'-'))
            {
                e += 1;
            }
            out.push((s, e));
            i = e;
        } else {
            i += 1;
        }
    }
    out
}

/// Byte ranges of the contents of double-quoted strings.
fn strings(d: &[u8]) -> Vec<(usize, usize)> {
    let quotes: Vec<usize> = d
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'"')
        .map(|(i, _)| i)
        .collect();
    quotes.chunks_exact(2).map(|q| (q[0] + 1, q[1])).collect()
}

fn lines(d: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in d.iter().enumerate() {
        if *b == b'\n' {
            out.push((start, i + 1));
            start = i + 1;
        }
    }
    if start < d.len() {
        out.push((start, d.len()));
    }
    out
}

fn mutate_text_once(rng: &mut Rng, d: &mut Vec<u8>, other: &[u8]) {
    match rng.below(9) {
        0 | 1 => {
            let nums = numbers(d);
            if !nums.is_empty() {
                let (a, b) = *rng.pick(&nums);
                let with = rng.pick(NUMBERS).as_bytes();
                d.splice(a..b, with.iter().copied());
            }
        }
        2 => {
            let quotes: Vec<usize> = (0..d.len())
                .filter(|i| matches!(d[*i], b'"' | b'\'' | b'[' | b']' | b'{' | b'}' | b'='))
                .collect();
            if !quotes.is_empty() {
                let i = *rng.pick(&quotes);
                d.remove(i);
            }
        }
        3 => {
            let ls = lines(d);
            if !ls.is_empty() {
                let (a, b) = *rng.pick(&ls);
                match rng.below(3) {
                    0 => {
                        d.drain(a..b);
                    }
                    1 => {
                        let line = d[a..b].to_vec();
                        d.splice(b..b, line);
                    }
                    _ => {
                        let (c, e) = *rng.pick(&ls);
                        if e <= a {
                            let (first, second) = (d[c..e].to_vec(), d[a..b].to_vec());
                            d.splice(a..b, first);
                            d.splice(c..e, second);
                        }
                    }
                }
            }
        }
        4 => {
            let at = rng.below(d.len() + 1);
            let t = rng.pick(TOKENS).as_bytes();
            d.splice(at..at, t.iter().copied());
        }
        5 => {
            let ss = strings(d);
            if !ss.is_empty() {
                let (a, b) = *rng.pick(&ss);
                if rng.one_in(6) {
                    let n = 1 + rng.below(20_000);
                    d.splice(a..b, std::iter::repeat_n(b'a', n));
                } else {
                    let with = rng.pick(STRINGS).as_bytes();
                    d.splice(a..b, with.iter().copied());
                }
            }
        }
        6 => {
            // A line of another seed (keys and sections from a sibling format).
            let ls = lines(other);
            if !ls.is_empty() {
                let (a, b) = *rng.pick(&ls);
                let line = other[a..b].to_vec();
                let mine = lines(d);
                let at = if mine.is_empty() {
                    0
                } else {
                    rng.pick(&mine).0
                };
                d.splice(at..at, line);
            }
        }
        7 => {
            let n = rng.below(d.len() + 1);
            d.truncate(n);
        }
        _ => {
            // A CSV/array field separator or row break somewhere.
            let at = rng.below(d.len() + 1);
            let seps: [&[u8]; 6] = [b",", b"\"", b"\n", b"\r", b",,", b"\"\""];
            let t = *rng.pick(&seps);
            d.splice(at..at, t.iter().copied());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_strings_are_found() {
        let t = b"a = -12.5e3\nb = \"x\" # 7\n";
        assert_eq!(numbers(t), vec![(4, 11), (22, 23)]);
        assert_eq!(strings(t), vec![(17, 18)]);
    }

    #[test]
    fn the_generator_is_reproducible() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let mut x = b"hello world".to_vec();
        let mut y = x.clone();
        mutate_bytes(&mut a, &mut x, b"other", 64);
        mutate_bytes(&mut b, &mut y, b"other", 64);
        assert_eq!(x, y);
    }
}
