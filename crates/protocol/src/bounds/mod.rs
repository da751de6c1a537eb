//! A structural check of a request body before it is decoded: every array, string and byte
//! field announces a length the bytes that follow can hold, as Kafka's own readers require
//! ("tried to allocate a collection of size N, but there are only M bytes remaining").
//!
//! The decoders of `kafka-protocol` reserve memory for an array as soon as they read its length,
//! before they read its elements: a few bytes announcing two billion elements would make the
//! broker reserve gigabytes and abort. This walk goes through the body by the request's wire
//! layout ([`schemas`], generated from Kafka's message specifications) without building anything,
//! and refuses a body whose lengths cannot be true: an array of `n` elements needs at least `n`
//! times its element's smallest encoding. A body that passes allocates at most a small multiple
//! of its own size when decoded.

mod schemas;

use crate::ProtocolError;

/// One request's wire layout.
#[derive(Debug)]
struct Message {
    key: i16,
    /// The highest version the specification describes.
    max: i16,
    /// The first flexible version (compact lengths, tagged fields); `i16::MAX`: none.
    flexible: i16,
    fields: &'static [Field],
}

/// A field: the versions that carry it, and from which version (with which tag) it is tagged.
#[derive(Debug)]
struct Field {
    versions: (i16, i16),
    tagged: Option<(i16, u32)>,
    ty: Ty,
}

#[derive(Debug)]
enum Ty {
    /// A fixed-width value of this many bytes (ints, bools, uuids).
    Fixed(u8),
    String,
    /// Bytes and records.
    Bytes,
    Array(&'static Ty),
    Struct(&'static [Field]),
}

impl Field {
    fn inline_at(&self, v: i16) -> bool {
        (self.versions.0..=self.versions.1).contains(&v) && self.tagged.is_none_or(|(from, _)| v < from)
    }

    fn tag_at(&self, v: i16) -> Option<u32> {
        self.tagged.filter(|(from, _)| v >= *from && (self.versions.0..=self.versions.1).contains(&v)).map(|t| t.1)
    }
}

/// Why a body fails the check.
#[derive(Debug)]
enum Bad {
    /// The body ends before the field does.
    Short,
    /// A length that the rest of the body cannot hold.
    Length { what: &'static str, n: u64, remaining: usize },
}

/// Whether requests of API `key` at `version` have a layout here (so that [`check`] checks them).
pub fn has_layout(key: i16, version: i16) -> bool {
    schemas::MESSAGES.iter().any(|m| m.key == key && version <= m.max)
}

/// Checks the body of a request of API `key` at `version` (the bytes after the request header).
/// APIs this module has no layout for pass unchecked.
pub fn check(key: i16, version: i16, body: &[u8]) -> Result<(), ProtocolError> {
    let Some(message) = schemas::MESSAGES.iter().find(|m| m.key == key) else { return Ok(()) };
    if version > message.max {
        return Ok(());
    }
    let mut walk = Walk { rest: body, version, flexible: version >= message.flexible };
    match walk.fields(message.fields) {
        Ok(()) => Ok(()),
        Err(Bad::Short) => Err(ProtocolError::Malformed { what: "request body", reason: "it ends early".into() }),
        Err(Bad::Length { what, n, remaining }) => Err(ProtocolError::Malformed {
            what: "request body",
            reason: format!("a {what} of length {n} where only {remaining} bytes remain"),
        }),
    }
}

struct Walk<'a> {
    rest: &'a [u8],
    version: i16,
    flexible: bool,
}

impl<'a> Walk<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        if self.rest.len() < n {
            return Err(Bad::Short);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn uvarint(&mut self) -> Result<u64, Bad> {
        let mut value = 0u64;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Bad::Length { what: "varint", n: value, remaining: self.rest.len() })
    }

    /// A length prefix: `None` for null. Compact lengths are stored plus one.
    fn length(&mut self, wide: bool) -> Result<Option<u64>, Bad> {
        if self.flexible {
            return Ok(self.uvarint()?.checked_sub(1));
        }
        let n = if wide {
            i64::from(i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
        } else {
            i64::from(i16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
        };
        Ok(u64::try_from(n).ok())
    }

    fn fields(&mut self, fields: &[Field]) -> Result<(), Bad> {
        let version = self.version;
        for f in fields.iter().filter(|f| f.inline_at(version)) {
            self.value(&f.ty)?;
        }
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint()?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()?;
            let remaining = self.rest.len();
            if size > remaining as u64 {
                return Err(Bad::Length { what: "tagged field", n: size, remaining });
            }
            let data = self.take(size as usize)?;
            let known = fields.iter().find(|f| f.tag_at(self.version).is_some_and(|t| u64::from(t) == tag));
            if let Some(f) = known {
                let mut inner = Walk { rest: data, version: self.version, flexible: true };
                inner.value(&f.ty)?;
            }
        }
        Ok(())
    }

    fn value(&mut self, ty: &Ty) -> Result<(), Bad> {
        match ty {
            Ty::Fixed(n) => self.take(usize::from(*n)).map(|_| ()),
            Ty::String | Ty::Bytes => {
                let what = if matches!(ty, Ty::String) { "string" } else { "byte field" };
                let Some(n) = self.length(matches!(ty, Ty::Bytes))? else { return Ok(()) };
                let remaining = self.rest.len();
                let n =
                    usize::try_from(n).ok().filter(|n| *n <= remaining).ok_or(Bad::Length { what, n, remaining })?;
                self.take(n).map(|_| ())
            }
            Ty::Array(element) => {
                let Some(n) = self.length(true)? else { return Ok(()) };
                let smallest = self.smallest(element).max(1) as u64;
                let remaining = self.rest.len();
                if n.saturating_mul(smallest) > remaining as u64 {
                    return Err(Bad::Length { what: "array", n, remaining });
                }
                for _ in 0..n {
                    self.value(element)?;
                }
                Ok(())
            }
            Ty::Struct(fields) => self.fields(fields),
        }
    }

    /// The fewest bytes a value of `ty` takes at this version.
    fn smallest(&self, ty: &Ty) -> usize {
        let prefix = |wide: bool| {
            if self.flexible {
                1
            } else if wide {
                4
            } else {
                2
            }
        };
        match ty {
            Ty::Fixed(n) => usize::from(*n),
            Ty::String => prefix(false),
            Ty::Bytes | Ty::Array(_) => prefix(true),
            Ty::Struct(fields) => {
                let inline: usize =
                    fields.iter().filter(|f| f.inline_at(self.version)).map(|f| self.smallest(&f.ty)).sum();
                inline + usize::from(self.flexible)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produce v3 (not flexible) with one topic whose partition array announces `n` partitions.
    fn produce_v3(partitions: i32) -> Vec<u8> {
        let mut b = vec![0xff, 0xff]; // transactional id: null
        b.extend_from_slice(&(-1i16).to_be_bytes()); // acks
        b.extend_from_slice(&1000i32.to_be_bytes()); // timeout
        b.extend_from_slice(&1i32.to_be_bytes()); // one topic
        b.extend_from_slice(&1i16.to_be_bytes());
        b.push(b't');
        b.extend_from_slice(&partitions.to_be_bytes());
        b
    }

    #[test]
    fn lengths_the_body_cannot_hold_are_refused() {
        let mut ok = produce_v3(1);
        ok.extend_from_slice(&0i32.to_be_bytes()); // partition 0
        ok.extend_from_slice(&(-1i32).to_be_bytes()); // null records
        check(0, 3, &ok).unwrap();
        let huge = produce_v3(i32::MAX);
        let refused = check(0, 3, &huge).unwrap_err().to_string();
        assert!(refused.contains("array of length 2147483647 where only 0 bytes remain"), "{refused}");
        // Eight bytes per partition at least (index and records length): 2 cannot fit in 12.
        let mut tight = produce_v3(2);
        tight.extend_from_slice(&[0; 12]);
        assert!(check(0, 3, &tight).is_err());
        assert!(check(0, 3, &ok[..ok.len() - 1]).is_err(), "a body that ends early");
    }

    #[test]
    fn flexible_bodies_use_compact_lengths_and_walk_tagged_fields() {
        // Metadata v12: topics (compact array, 1 element + 1), one topic: id, name, tags; then
        // two bools, then the message's tags.
        let mut b = vec![2];
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&[2, b't', 0]);
        b.extend_from_slice(&[1, 0, 0]);
        check(3, 12, &b).unwrap();
        b[0] = 0xff; // a varint continues past the body
        assert!(check(3, 12, &b).is_err());
        // Fetch v15's replica state is a tagged struct: a tag whose size overruns is refused.
        let mut fetch = Vec::new();
        fetch.extend_from_slice(&[0; 4 * 3 + 1 + 4 * 2]); // max wait, min bytes, max bytes, isolation, session
        fetch.extend_from_slice(&[1, 1, 1]); // no topics, no forgotten topics, empty rack
        fetch.extend_from_slice(&[1, 1, 100]); // one tagged field, tag 1, 100 bytes that are not there
        let refused = check(1, 15, &fetch).unwrap_err().to_string();
        assert!(refused.contains("tagged field of length 100"), "{refused}");
    }

    #[test]
    fn every_served_request_has_a_layout() {
        for key in [
            0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 32, 33, 37, 42,
            44, 47, 60,
        ] {
            assert!(schemas::MESSAGES.iter().any(|m| m.key == key), "no layout for key {key}");
        }
    }
}
