//! A rewritten chunk as "bytes written" followed by "input bytes that went through unchanged",
//! so that the unchanged part is never copied.
//!
//! Most of a list's bytes go through as they are (in Activity's answers the items carry no
//! `apiVersion`; only the list's own is rewritten). Copying them into an output buffer, then
//! having Envoy copy that buffer back in place of the chunk, was two of the three copies of
//! every byte. Envoy replaces a buffer's head in place (`set_buffer_bytes(0, n, head)` drains
//! `n` bytes and prepends `head`), so an output that ends with the input's own last bytes is
//! written back as its head alone, and a chunk that went through untouched not at all.
//!
//! Whatever is appended, the output is the same bytes: input bytes are recognised by where
//! they are (a sub-slice of the input, right after the bytes already passed), never assumed.

use core::ops::Range;

/// The output of rewriting one input slice, after what earlier slices gave.
#[derive(Debug)]
pub struct Output<'a> {
    input: &'a [u8],
    /// What is written so far, up to the pending input bytes.
    written: Vec<u8>,
    /// Input bytes that follow `written` in the output, not copied yet.
    pending: Range<usize>,
}

impl<'a> Output<'a> {
    /// The output of rewriting `input`, following `written`.
    pub fn over(input: &'a [u8], written: Vec<u8>) -> Self {
        Output {
            input,
            written,
            pending: 0..0,
        }
    }

    /// Append `bytes`. Bytes of the input right after those passed last (or anywhere in it,
    /// when none are pending) are only counted.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(at) = self.offset_in_input(bytes) {
            if self.pending.is_empty() {
                self.pending = at..at + bytes.len();
                return;
            }
            if at == self.pending.end {
                self.pending.end += bytes.len();
                return;
            }
        }
        self.written().extend_from_slice(bytes);
    }

    /// Append one byte that is not the input's (a byte of the input goes through
    /// [`Self::extend_from_slice`]).
    pub fn push(&mut self, b: u8) {
        self.written().push(b);
    }

    /// The output so far as one buffer, to append to directly.
    pub fn written(&mut self) -> &mut Vec<u8> {
        if !self.pending.is_empty() {
            // (No room reserved for the rest of the input: most often only a short head is
            // written, and the rest goes through uncopied.)
            let pending = self.input.get(self.pending.clone()).unwrap_or_default();
            self.written.extend_from_slice(pending);
            self.pending = 0..0;
        }
        &mut self.written
    }

    /// Bytes output so far.
    pub fn len(&self) -> usize {
        self.written.len() + self.pending.len()
    }

    /// Whether nothing is output yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole output as one buffer.
    pub fn into_vec(mut self) -> Vec<u8> {
        self.written();
        self.written
    }

    /// The output as a replacement of the input's head: the input's first `n` bytes are to be
    /// replaced by the returned buffer, and the rest stays as it is. `n` is the input's whole
    /// length unless the output ends with the input's own last bytes; `(0, [])`: the input
    /// went through untouched.
    pub fn into_head(mut self) -> (usize, Vec<u8>) {
        if !self.pending.is_empty() && self.pending.end == self.input.len() {
            return (self.pending.start, self.written);
        }
        self.written();
        (self.input.len(), self.written)
    }

    /// Where `bytes` starts in the input, if it lies wholly inside it.
    fn offset_in_input(&self, bytes: &[u8]) -> Option<usize> {
        let at = bytes
            .as_ptr()
            .addr()
            .checked_sub(self.input.as_ptr().addr())?;
        (at.checked_add(bytes.len())? <= self.input.len()).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_passed_through_is_only_counted() {
        let input = b"0123456789".to_vec();
        let mut out = Output::over(&input, Vec::new());
        out.extend_from_slice(&input[..4]);
        out.extend_from_slice(&input[4..10]);
        assert_eq!(out.len(), 10);
        assert_eq!(out.into_head(), (0, Vec::new()));
    }

    #[test]
    fn a_rewritten_head_is_all_that_is_written() {
        let input = b"0123456789".to_vec();
        let mut out = Output::over(&input, Vec::new());
        out.extend_from_slice(&input[..2]);
        out.extend_from_slice(b"ab");
        // Two input bytes consumed and replaced, the rest passed.
        out.extend_from_slice(&input[4..]);
        assert_eq!(out.len(), 10);
        assert_eq!(out.into_head(), (4, b"01ab".to_vec()));
    }

    #[test]
    fn anything_but_the_input_in_order_is_copied() {
        let input = b"0123456789".to_vec();
        // Skipping input bytes, going back, bytes equal to the input's but elsewhere in
        // memory, and an output that does not end with the input's end.
        let cases: Vec<(Vec<&[u8]>, &[u8])> = vec![
            (vec![&input[..3], &input[5..]], b"01256789"),
            (vec![&input[..3], &input[1..4]], b"012123"),
            (vec![b"0123", &input[4..]], b"0123456789"),
            (vec![&input[..9]], b"012345678"),
            (vec![&input[..], b"!"], b"0123456789!"),
        ];
        let fill = |parts: &[&[u8]]| {
            let mut out = Output::over(&input, b"<".to_vec());
            for p in parts {
                out.extend_from_slice(p);
            }
            out
        };
        for (parts, want) in cases {
            let mut expected = b"<".to_vec();
            expected.extend_from_slice(want);
            let (n, mut whole) = fill(&parts).into_head();
            whole.extend_from_slice(&input[n..]);
            assert_eq!(whole, expected, "{parts:?}");
            assert_eq!(fill(&parts).into_vec(), expected);
        }
    }

    #[test]
    fn bytes_written_in_between_keep_the_order() {
        let input = b"abcdef".to_vec();
        let mut out = Output::over(&input, Vec::new());
        out.extend_from_slice(&input[..2]);
        out.push(b'-');
        out.extend_from_slice(&input[2..4]);
        out.written().extend_from_slice(b"+");
        out.extend_from_slice(&input[4..]);
        assert_eq!(out.len(), 8);
        assert_eq!(out.into_head(), (4, b"ab-cd+".to_vec()));
    }
}
