//! The proxy-wasm "pairs" wire format: header maps, and lists/structs returned by
//! `get_property`.
//!
//! `u32 count`, then `count` × (`u32 key_len`, `u32 value_len`), then each key and each value
//! followed by a NUL byte; all integers little-endian. Envoy encodes a list as a map whose keys
//! are the elements and whose values are empty, and a nested struct as pairs inside the value.

/// Why a buffer could not be decoded. Never a panic: the bytes come from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairsError {
    /// Shorter than its own header says.
    Truncated,
    /// A key or value is not followed by its NUL terminator.
    MissingTerminator,
    /// Bytes left over after the last pair.
    TrailingBytes,
}

impl std::fmt::Display for PairsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PairsError::Truncated => "truncated pairs buffer",
            PairsError::MissingTerminator => "pairs entry without NUL terminator",
            PairsError::TrailingBytes => "trailing bytes after pairs",
        })
    }
}

fn read_u32(buf: &[u8], at: usize) -> Result<usize, PairsError> {
    let end = at.checked_add(4).ok_or(PairsError::Truncated)?;
    let bytes: [u8; 4] = buf
        .get(at..end)
        .and_then(|s| s.try_into().ok())
        .ok_or(PairsError::Truncated)?;
    Ok(u32::from_le_bytes(bytes) as usize)
}

/// One decoded entry: borrowed key and value bytes.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Decode a pairs buffer into borrowed (key, value) slices, in order. An empty buffer is an
/// empty map (Envoy returns nothing for an empty header map).
pub fn decode(buf: &[u8]) -> Result<Vec<Pair<'_>>, PairsError> {
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let count = read_u32(buf, 0)?;
    let sizes_end = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .ok_or(PairsError::Truncated)?;
    if sizes_end > buf.len() {
        return Err(PairsError::Truncated);
    }
    let mut out = Vec::with_capacity(count);
    let mut data = sizes_end;
    for i in 0..count {
        let key_len = read_u32(buf, 4 + i * 8)?;
        let value_len = read_u32(buf, 8 + i * 8)?;
        let (key, next) = take_terminated(buf, data, key_len)?;
        let (value, next) = take_terminated(buf, next, value_len)?;
        data = next;
        out.push((key, value));
    }
    if data != buf.len() {
        return Err(PairsError::TrailingBytes);
    }
    Ok(out)
}

fn take_terminated(buf: &[u8], at: usize, len: usize) -> Result<(&[u8], usize), PairsError> {
    let end = at.checked_add(len).ok_or(PairsError::Truncated)?;
    let item = buf.get(at..end).ok_or(PairsError::Truncated)?;
    match buf.get(end) {
        Some(0) => Ok((item, end + 1)),
        Some(_) => Err(PairsError::MissingTerminator),
        None => Err(PairsError::Truncated),
    }
}

/// Builds a pairs buffer incrementally, so a header map can be assembled in one pass and sent
/// to the host in one call. One buffer: a slot table sized for the expected number of entries,
/// then the data; unused slots are closed up in `finish`.
#[derive(Debug, Clone)]
pub struct PairsBuilder {
    count: usize,
    slots: usize,
    buf: Vec<u8>,
}

impl Default for PairsBuilder {
    fn default() -> Self {
        PairsBuilder::with_capacity(0, 0)
    }
}

impl PairsBuilder {
    pub fn with_capacity(entries: usize, data_bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(4 + entries * 8 + data_bytes + entries * 2);
        buf.resize(4 + entries * 8, 0);
        PairsBuilder {
            count: 0,
            slots: entries,
            buf,
        }
    }

    pub fn push(&mut self, key: &[u8], value: &[u8]) {
        if self.count == self.slots {
            // More entries than planned: open more slots in front of the data.
            let grow = self.slots.max(4);
            let at = 4 + self.slots * 8;
            self.buf.splice(at..at, std::iter::repeat_n(0u8, grow * 8));
            self.slots += grow;
        }
        // Header names and values are far below 4 GiB; saturate rather than wrap regardless.
        let k = u32::try_from(key.len()).unwrap_or(u32::MAX);
        let v = u32::try_from(value.len()).unwrap_or(u32::MAX);
        let slot = 4 + self.count * 8;
        if let Some(s) = self.buf.get_mut(slot..slot + 8) {
            let [k0, k1, k2, k3] = k.to_le_bytes();
            let [v0, v1, v2, v3] = v.to_le_bytes();
            s.copy_from_slice(&[k0, k1, k2, k3, v0, v1, v2, v3]);
        }
        self.buf.extend_from_slice(key);
        self.buf.push(0);
        self.buf.extend_from_slice(value);
        self.buf.push(0);
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn finish(mut self) -> Vec<u8> {
        let used = 4 + self.count * 8;
        let reserved = 4 + self.slots * 8;
        if reserved > used {
            self.buf.drain(used..reserved);
        }
        let count = u32::try_from(self.count).unwrap_or(u32::MAX);
        if let Some(head) = self.buf.get_mut(..4) {
            head.copy_from_slice(&count.to_le_bytes());
        }
        self.buf
    }
}

/// Encode a whole map at once.
pub fn encode<'a, I>(pairs: I) -> Vec<u8>
where
    I: IntoIterator<Item = (&'a [u8], &'a [u8])>,
{
    let mut b = PairsBuilder::default();
    for (k, v) in pairs {
        b.push(k, v);
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_list_example_from_the_design() {
        // ["a","b"] as Envoy hands it over.
        let buf = [
            2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'a', 0, 0, b'b', 0, 0,
        ];
        let pairs = decode(&buf).unwrap();
        assert_eq!(pairs, vec![(&b"a"[..], &b""[..]), (&b"b"[..], &b""[..])]);
    }

    #[test]
    fn round_trips() {
        let input: Vec<(&[u8], &[u8])> = vec![
            (b":path", b"/api/v1/events"),
            (b"x", b""),
            (b"", b"v"),
            (b"bin", &[0xff, 0x00, 0x01]),
        ];
        let buf = encode(input.iter().copied());
        assert_eq!(decode(&buf).unwrap(), input);
    }

    #[test]
    fn builder_matches_encode_whatever_the_capacity() {
        let entries: Vec<(Vec<u8>, Vec<u8>)> = (0..13)
            .map(|i| (format!("k{i}").into_bytes(), vec![b'v'; i]))
            .collect();
        let want = encode(entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
        for slots in [0, 1, 5, 13, 40] {
            let mut b = PairsBuilder::with_capacity(slots, 10);
            for (k, v) in &entries {
                b.push(k, v);
            }
            assert_eq!(b.len(), 13);
            assert_eq!(b.finish(), want, "slots {slots}");
        }
        assert_eq!(PairsBuilder::with_capacity(3, 0).finish(), vec![0, 0, 0, 0]);
    }

    #[test]
    fn empty_buffer_is_empty_map_and_zero_count_is_too() {
        assert!(decode(&[]).unwrap().is_empty());
        assert!(decode(&[0, 0, 0, 0]).unwrap().is_empty());
    }

    #[test]
    fn rejects_malformed_buffers_without_panicking() {
        let good = encode([(&b"key"[..], &b"value"[..])]);
        // Every truncation fails cleanly.
        for cut in 1..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        // Huge counts do not allocate or overflow.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff]),
            Err(PairsError::Truncated)
        );
        // A missing NUL terminator is detected.
        let mut bad = good.clone();
        let nul = 4 + 8 + 3;
        bad[nul] = b'!';
        assert_eq!(decode(&bad), Err(PairsError::MissingTerminator));
        // Trailing garbage is detected.
        let mut long = good;
        long.push(1);
        assert_eq!(decode(&long), Err(PairsError::TrailingBytes));
    }

    #[test]
    fn fuzz_like_inputs_never_panic() {
        // Deterministic pseudo-random buffers.
        let mut x: u32 = 0x1234_5678;
        for len in 0..64 {
            for _ in 0..64 {
                let buf: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        (x & 0x07) as u8
                    })
                    .collect();
                let _ = decode(&buf);
            }
        }
    }
}
