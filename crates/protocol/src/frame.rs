//! Frames: a 4-byte big-endian length, then that many bytes of request or response.
//!
//! [`FrameDecoder`] accumulates bytes read from a socket and yields whole frames. It refuses a frame
//! whose announced length exceeds its bound before buffering it, so a peer cannot make the broker
//! allocate more than `max_frame_bytes` per connection.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::ProtocolError;

/// Size of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// Incremental frame splitter with a size bound.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        Self { max_frame_bytes }
    }

    /// Takes one whole frame (without its length prefix) off the front of `buf`, if one is there.
    /// `Ok(None)` means more bytes are needed; [`FrameDecoder::wanted`] tells how many in total.
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>, ProtocolError> {
        let Some(len) = self.announced(buf)? else {
            return Ok(None);
        };
        if buf.len() < LENGTH_PREFIX + len {
            return Ok(None);
        }
        buf.advance(LENGTH_PREFIX);
        Ok(Some(buf.split_to(len).freeze()))
    }

    /// The total number of bytes (prefix included) the frame at the front of `buf` occupies, once
    /// its prefix has arrived. Lets the reader reserve exactly what the frame needs.
    pub fn wanted(&self, buf: &BytesMut) -> Result<Option<usize>, ProtocolError> {
        Ok(self.announced(buf)?.map(|len| len + LENGTH_PREFIX))
    }

    fn announced(&self, buf: &BytesMut) -> Result<Option<usize>, ProtocolError> {
        if buf.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let size = usize::try_from(len).map_err(|_| ProtocolError::InvalidFrameLength(len))?;
        if size > self.max_frame_bytes {
            return Err(ProtocolError::FrameTooLarge { size, max: self.max_frame_bytes });
        }
        Ok(Some(size))
    }
}

/// Appends `payload` to `out` with its length prefix.
pub fn encode_frame(out: &mut BytesMut, payload: &[u8]) {
    out.reserve(LENGTH_PREFIX + payload.len());
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frames_and_waits_for_more() {
        let d = FrameDecoder::new(1024);
        let mut buf = BytesMut::new();
        encode_frame(&mut buf, b"hello");
        encode_frame(&mut buf, b"world!");
        let partial = buf.split_off(7);
        let mut head = buf;
        assert_eq!(d.decode(&mut head).unwrap(), None);
        assert_eq!(d.wanted(&head).unwrap(), Some(9));
        head.unsplit(partial);
        assert_eq!(d.decode(&mut head).unwrap().unwrap(), &b"hello"[..]);
        assert_eq!(d.decode(&mut head).unwrap().unwrap(), &b"world!"[..]);
        assert!(head.is_empty());
    }

    #[test]
    fn refuses_oversized_and_negative_lengths() {
        let d = FrameDecoder::new(10);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 11][..]);
        assert!(matches!(d.decode(&mut buf), Err(ProtocolError::FrameTooLarge { size: 11, max: 10 })));
        let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert!(matches!(d.decode(&mut buf), Err(ProtocolError::InvalidFrameLength(-1))));
    }

    #[test]
    fn short_prefix_needs_more() {
        let d = FrameDecoder::new(10);
        let mut buf = BytesMut::from(&[0u8, 0][..]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert_eq!(d.wanted(&buf).unwrap(), None);
    }
}
