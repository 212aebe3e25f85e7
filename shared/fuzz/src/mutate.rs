//! The mutator: byte-level edits (bit flips, interesting bytes, inserts, deletes, duplication,
//! splices between seeds, dictionary tokens) and JSON-aware edits (a field deleted, added,
//! renamed or given a value of another type, numbers and strings at the edges, deep nesting),
//! stacked a few at a time on a valid seed, plus some purely random inputs.

use serde_json::{Map, Value};

use crate::rng::Rng;

/// Numbers at the edges, as raw JSON text (exactly as a hostile peer could send them).
pub const EDGE_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.0",
    "0.5",
    "1e-7",
    "1e-10",
    "1e-11",
    "1E+3",
    "1e308",
    "-1e308",
    "1e999999999",
    "1e-999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211455",
    "340282366920938463463374607431768211456",
    "115792089237316195423570985008687907853269984665640564039457584007913129639935",
    "0.00000000000000000000000000001",
    "100000000000000000000000000000000000000000000000",
    "2147483647",
    "2147483648",
    "-2147483649",
    "65535",
    "65536",
    "4294967296",
    "123.4567890123",
    "1.000000000000000000001",
];

/// Strings at the edges.
pub const EDGE_STRINGS: &[&str] = &[
    "",
    " ",
    "0",
    "-1",
    "1e3",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x",
    "0x0",
    "0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "null",
    "true",
    "\u{0}",
    "\u{202e}",
    "é",
    "🚀",
    "\r\n",
    "<b>",
    "&amp;",
    "'",
    "\"",
    "\\",
    "%s%n",
    "../../",
    "ⅷ",
    "١٢٣",
    "9999999999999999999999999999999",
    "1_000",
    "1,5",
    ".",
    "+",
    "--1",
    "1..2",
];

const INTERESTING_BYTES: &[u8] =
    &[0, 1, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'}', b'[', b']', b':', b',', b'\n', b'\r', b' ', b'0', b'9', b'-', b'.', b'e'];

/// The mutator of one target: its valid seeds and its grammar's tokens.
pub struct Mutator {
    pub seeds: Vec<Vec<u8>>,
    pub dictionary: Vec<String>,
    /// Largest input produced.
    pub max_len: usize,
}

impl Mutator {
    pub fn new(seeds: Vec<Vec<u8>>, dictionary: &[&str]) -> Self {
        let mut dictionary: Vec<String> = dictionary.iter().map(|s| (*s).to_owned()).collect();
        dictionary.extend(EDGE_NUMBERS.iter().map(|s| (*s).to_owned()));
        Self { seeds, dictionary, max_len: 16 * 1024 }
    }

    fn seed(&self, rng: &mut Rng) -> Vec<u8> {
        rng.pick(&self.seeds).cloned().unwrap_or_default()
    }

    fn token(&self, rng: &mut Rng) -> String {
        rng.pick(&self.dictionary).cloned().unwrap_or_default()
    }

    /// One input: a seed as is (1 in 32), random bytes (1 in 16), JSON-aware edits, byte edits,
    /// or both stacked.
    pub fn generate(&self, rng: &mut Rng) -> Vec<u8> {
        let mut out = match rng.below(32) {
            0 => return self.seed(rng),
            1 | 2 => {
                let n = rng.below(256);
                return (0..n).map(|_| rng.byte()).collect();
            }
            3..=14 => self.json_edits(rng),
            15..=22 => {
                let seed = self.seed(rng);
                self.byte_edits(rng, seed)
            }
            _ => {
                let j = self.json_edits(rng);
                self.byte_edits(rng, j)
            }
        };
        out.truncate(self.max_len);
        out
    }

    /// 1–8 stacked byte-level edits.
    pub fn byte_edits(&self, rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
        for _ in 0..1 + rng.below(8) {
            let len = b.len();
            let at = rng.below(len + 1);
            match rng.below(10) {
                0 => {
                    if let Some(x) = b.get_mut(at) {
                        *x ^= 1 << rng.below(8);
                    }
                }
                1 => {
                    let v = rng.pick(INTERESTING_BYTES).copied().unwrap_or(0);
                    if let Some(x) = b.get_mut(at) {
                        *x = v;
                    }
                }
                2 => {
                    let n = 1 + rng.below(8);
                    let ins: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
                    b.splice(at..at, ins);
                }
                3 => {
                    let n = rng.below(16).min(len - at.min(len));
                    b.drain(at..at + n);
                }
                4 => {
                    // Duplicate a range (repeated fields, long numbers).
                    let n = rng.below(32).min(len - at.min(len));
                    let dup: Vec<u8> = b.get(at..at + n).map(<[u8]>::to_vec).unwrap_or_default();
                    b.splice(at..at, dup);
                }
                5 => {
                    // Splice: the head of this input, the tail of another seed.
                    let other = self.seed(rng);
                    let from = rng.below(other.len() + 1);
                    b.truncate(at);
                    b.extend_from_slice(other.get(from..).unwrap_or_default());
                }
                6 | 7 => {
                    let t = self.token(rng);
                    b.splice(at..at, t.into_bytes());
                }
                8 => b.truncate(at),
                _ => {
                    // Replace a digit run with an edge number.
                    if let Some(start) = (at..len).find(|&i| b.get(i).is_some_and(u8::is_ascii_digit)) {
                        let end = (start..len).find(|&i| !b.get(i).is_some_and(u8::is_ascii_digit)).unwrap_or(len);
                        let n = rng.pick(EDGE_NUMBERS).copied().unwrap_or("0");
                        b.splice(start..end, n.bytes());
                    }
                }
            }
        }
        b
    }

    /// 1–4 JSON-aware edits of a seed (seeds that are not JSON get byte edits instead).
    pub fn json_edits(&self, rng: &mut Rng) -> Vec<u8> {
        let seed = self.seed(rng);
        let Ok(mut v) = serde_json::from_slice::<Value>(&seed) else { return self.byte_edits(rng, seed) };
        let mut raws: Vec<String> = Vec::new();
        for _ in 0..1 + rng.below(4) {
            self.edit_json(rng, &mut v, &mut raws, 0);
        }
        let mut text = v.to_string();
        // Raw numbers go in after serialisation, so their exact text reaches the parser.
        for (i, raw) in raws.iter().enumerate() {
            text = text.replacen(&format!("\"@@RAW{i}@@\""), raw, 1);
        }
        text.into_bytes()
    }

    fn new_value(&self, rng: &mut Rng, raws: &mut Vec<String>, old: &Value) -> Value {
        match rng.below(12) {
            0 => Value::Null,
            1 => Value::Bool(rng.chance(1, 2)),
            2 | 3 => {
                raws.push(rng.pick(EDGE_NUMBERS).copied().unwrap_or("0").to_owned());
                Value::String(format!("@@RAW{}@@", raws.len() - 1))
            }
            4 | 5 => Value::String(rng.pick(EDGE_STRINGS).copied().unwrap_or("").to_owned()),
            6 => Value::String(rng.pick(EDGE_NUMBERS).copied().unwrap_or("0").to_owned()),
            7 => Value::String(self.token(rng)),
            8 => Value::Array(vec![old.clone()]),
            9 => {
                let mut m = Map::new();
                m.insert(self.token(rng), old.clone());
                Value::Object(m)
            }
            10 => {
                // A long string, or the old one repeated.
                let base = old.as_str().map_or_else(|| self.token(rng), str::to_owned);
                Value::String(base.repeat(1 + rng.below(400)))
            }
            _ => {
                // Deep nesting (parsers must refuse it, not overflow their stack).
                let depth = 1 + rng.below(300);
                let mut v = old.clone();
                for _ in 0..depth {
                    v = Value::Array(vec![v]);
                }
                v
            }
        }
    }

    fn edit_json(&self, rng: &mut Rng, v: &mut Value, raws: &mut Vec<String>, depth: usize) {
        match v {
            Value::Object(m) if !m.is_empty() && (depth == 0 || rng.chance(3, 4)) => {
                let keys: Vec<String> = m.keys().cloned().collect();
                let key = rng.pick(&keys).cloned().unwrap_or_default();
                match rng.below(8) {
                    0 => {
                        m.remove(&key);
                    }
                    1 => {
                        let t = self.token(rng);
                        let old = m.get(&key).cloned().unwrap_or(Value::Null);
                        let nv = self.new_value(rng, raws, &old);
                        m.insert(t, nv);
                    }
                    2 => {
                        if let Some(val) = m.remove(&key) {
                            m.insert(format!("{key}{}", self.token(rng)), val);
                        }
                    }
                    3 | 4 => {
                        if let Some(child) = m.get_mut(&key) {
                            self.edit_json(rng, child, raws, depth + 1);
                        }
                    }
                    _ => {
                        let old = m.get(&key).cloned().unwrap_or(Value::Null);
                        let nv = self.new_value(rng, raws, &old);
                        m.insert(key, nv);
                    }
                }
            }
            Value::Array(a) if !a.is_empty() && rng.chance(3, 4) => {
                let i = rng.below(a.len());
                match rng.below(5) {
                    0 => {
                        a.remove(i);
                    }
                    1 => {
                        let dup = a.get(i).cloned().unwrap_or(Value::Null);
                        a.insert(i, dup);
                    }
                    _ => {
                        if let Some(child) = a.get_mut(i) {
                            self.edit_json(rng, child, raws, depth + 1);
                        }
                    }
                }
            }
            Value::String(s) if rng.chance(1, 2) => {
                // Edit inside the string: tokens from the grammar, truncation, case.
                let mut chars: Vec<char> = s.chars().collect();
                match rng.below(4) {
                    0 => chars.truncate(rng.below(chars.len() + 1)),
                    1 => {
                        let at = rng.below(chars.len() + 1);
                        let t: Vec<char> = self.token(rng).chars().collect();
                        chars.splice(at..at, t);
                    }
                    2 => chars = chars.iter().flat_map(|c| c.to_uppercase()).collect(),
                    _ => {
                        let t = self.token(rng);
                        chars = t.chars().collect();
                    }
                }
                *s = chars.into_iter().collect();
            }
            other => {
                let nv = self.new_value(rng, raws, other);
                *other = nv;
            }
        }
    }
}
