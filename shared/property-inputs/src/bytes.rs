//! Byte-level edits: what a broken producer, a cut-off upload or a flipped bit does to an input.
use proptest::prelude::*;
use proptest::sample::Index;

/// Bytes that mean something to one decoder or another: JSON punctuation and escapes, bad UTF-8
/// (a lone continuation byte, a lead byte without its tail, an overlong form), base64 and
/// percent signs, CSV separators, image markers.
const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"1e999",
    b"-",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xc0\xaf",
    b"\xef\xbb\xbf",
    b"=",
    b"==",
    b"+",
    b"/",
    b"%",
    b"%zz",
    b"\r\n",
    b"\0",
    b"\xff\xd8",
    b"\xff\xd9",
    b"\xff\xda",
    b"\xff\xc0",
    b"IHDR",
    b"VP8 ",
];

#[derive(Debug, Clone)]
pub enum ByteEdit {
    /// One bit of one byte flipped.
    Flip(Index, u8),
    /// Bytes inserted at a position (a token, or random bytes).
    Insert(Index, Vec<u8>),
    /// Up to `n` bytes taken out from a position.
    Delete(Index, usize),
    /// Everything from a position on taken out.
    Truncate(Index),
    /// Up to `n` bytes from a position repeated right after themselves.
    Duplicate(Index, usize),
}

pub fn byte_edit() -> impl Strategy<Value = ByteEdit> {
    let insert =
        prop_oneof![prop::sample::select(TOKENS).prop_map(<[u8]>::to_vec), prop::collection::vec(any::<u8>(), 1..8),];
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(at, bit)| ByteEdit::Flip(at, bit)),
        (any::<Index>(), insert).prop_map(|(at, b)| ByteEdit::Insert(at, b)),
        (any::<Index>(), 1usize..16).prop_map(|(at, n)| ByteEdit::Delete(at, n)),
        any::<Index>().prop_map(ByteEdit::Truncate),
        (any::<Index>(), 1usize..64).prop_map(|(at, n)| ByteEdit::Duplicate(at, n)),
    ]
}

impl ByteEdit {
    pub fn apply(&self, b: &mut Vec<u8>) {
        // A position in 0..=len, so that the end can be edited too.
        let at = |i: &Index, len: usize| i.index(len + 1);
        match self {
            ByteEdit::Flip(i, bit) if !b.is_empty() => {
                let at = i.index(b.len());
                b[at] ^= 1 << bit;
            }
            ByteEdit::Flip(..) => {}
            ByteEdit::Insert(i, bytes) => {
                let at = at(i, b.len());
                b.splice(at..at, bytes.iter().copied());
            }
            ByteEdit::Delete(i, n) => {
                let at = at(i, b.len());
                b.drain(at..(at + n).min(b.len()));
            }
            ByteEdit::Truncate(i) => b.truncate(at(i, b.len())),
            ByteEdit::Duplicate(i, n) => {
                let at = at(i, b.len());
                let span = b[at..(at + n).min(b.len())].to_vec();
                b.splice(at..at, span);
            }
        }
    }
}
