//! Property tests of every request decoder the broker serves, at every served version: random
//! requests (every field the version carries set, seeded) encoded as a client encodes them decode
//! back to the same request; every truncation of such a frame is refused rather than misread;
//! and bytes flipped at random never panic the decoder.
//!
//! The generators in `codec/requests.rs` are written by `codec/generate.py` from kafka-protocol's
//! message definitions; an API added to the registry without a generator fails here.

#[path = "codec/requests.rs"]
mod requests;

use bytes::Bytes;
use fjord_broker::handlers::APIS;
use fjord_protocol::frame::LENGTH_PREFIX;
use fjord_protocol::request::Decoded;
use fjord_protocol::{ClientCodec, VersionTable, decode_request};
use kafka_protocol::messages::{ApiKey, RequestKind};
use kafka_protocol::protocol::StrBytes;

/// Random requests per API and version.
const CASES: u64 = 16;
/// Attempts at a request the version can encode (a nullable-only-in-later-versions field drawn
/// as null is redrawn).
const ATTEMPTS: usize = 64;

/// A small seeded generator (SplitMix64).
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Edge values as often as ordinary ones.
    pub fn int(&mut self) -> i64 {
        match self.below(6) {
            0 => 0,
            1 => -1,
            2 => self.below(100) as i64,
            3 => i64::MAX,
            4 => i64::MIN,
            _ => self.next() as i64,
        }
    }

    pub fn flip(&mut self) -> bool {
        self.below(2) == 1
    }

    pub fn string(&mut self) -> StrBytes {
        const CHARS: &[char] = &['a', 'z', 'Q', '0', '9', '.', '_', '-', 'é', '流'];
        let len = self.below(12) as usize;
        StrBytes::from_string((0..len).map(|_| CHARS[self.below(CHARS.len() as u64) as usize]).collect())
    }

    pub fn bytes(&mut self) -> Bytes {
        let len = self.below(48) as usize;
        (0..len).map(|_| self.next() as u8).collect::<Vec<u8>>().into()
    }

    pub fn uuid(&mut self) -> uuid::Uuid {
        uuid::Uuid::from_u64_pair(self.next(), self.next())
    }

    pub fn maybe<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.below(4) == 0 { None } else { Some(f(self)) }
    }

    pub fn list<T>(&mut self, mut f: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let len = self.below(4) as usize;
        (0..len).map(|_| f(self)).collect()
    }
}

/// The served (key, version) pairs whose bodies kafka-protocol decodes (Produce v0–v2, the old
/// message formats, are answered by their own parser and tested beside it).
fn served() -> impl Iterator<Item = (ApiKey, i16)> {
    APIS.iter()
        .flat_map(|api| (api.min..=api.max).map(move |v| (api.key, v)))
        .filter(|(key, v)| !(*key == ApiKey::Produce && *v < 3))
}

/// The frame a client sends (without its length prefix), as every client in Fjord frames it.
fn frame(key: ApiKey, version: i16, body: &RequestKind) -> Option<Bytes> {
    let mut frame = ClientCodec::new("codec-test", 0).encode_kind(key, version, body).ok()?;
    Some(frame.split_off(LENGTH_PREFIX).freeze())
}

/// A random request of `key` at `version`, and its frame.
fn case(key: ApiKey, version: i16, seed: u64) -> (RequestKind, Bytes) {
    let mut rng = Rng::new(seed);
    for _ in 0..ATTEMPTS {
        let request = requests::request(key, &mut rng, version)
            .unwrap_or_else(|| panic!("no generator for {key:?}: run crates/broker/tests/codec/generate.py"));
        if let Some(frame) = frame(key, version, &request) {
            return (request, frame);
        }
    }
    panic!("no encodable {key:?} v{version} in {ATTEMPTS} attempts");
}

fn seed(key: ApiKey, version: i16, case: u64) -> u64 {
    ((key as u64) << 40) ^ ((version as u64) << 24) ^ case
}

#[test]
fn every_served_request_has_its_lengths_checked_before_decoding() {
    for (key, version) in served() {
        assert!(fjord_protocol::bounds::has_layout(key as i16, version), "{key:?} v{version} has no wire layout");
    }
}

#[test]
fn every_served_request_round_trips() {
    let table = VersionTable::new(APIS);
    let mut checked = 0;
    for (key, version) in served() {
        for n in 0..CASES {
            let (request, frame) = case(key, version, seed(key, version, n));
            match decode_request(frame, &table) {
                Ok(Decoded::Request(r)) => {
                    assert_eq!(r.header.correlation_id, 1);
                    assert_eq!(r.body, request, "{key:?} v{version} case {n}");
                }
                other => panic!("{key:?} v{version} case {n}: {other:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} requests checked");
}

#[test]
fn every_truncation_of_a_served_request_is_refused() {
    let table = VersionTable::new(APIS);
    for (key, version) in served() {
        for n in 0..CASES / 2 {
            let (_, frame) = case(key, version, seed(key, version, n) ^ 0x5eed);
            for cut in 0..frame.len() {
                let decoded = decode_request(frame.slice(..cut), &table);
                assert!(decoded.is_err(), "{key:?} v{version}: a frame cut at {cut} of {} decoded", frame.len());
            }
        }
    }
}

#[test]
fn flipped_bytes_never_panic_a_decoder() {
    let table = VersionTable::new(APIS);
    for (key, version) in served() {
        for n in 0..CASES {
            let s = seed(key, version, n) ^ 0xf11b;
            let (_, frame) = case(key, version, s);
            let mut rng = Rng::new(s);
            let mut bytes = frame.to_vec();
            // The first 4 bytes (key and version) stay: a different API is another test's job.
            if bytes.len() <= 4 {
                continue;
            }
            for _ in 0..=rng.below(4) {
                let at = 4 + rng.below((bytes.len() - 4) as u64) as usize;
                bytes[at] ^= 1 << rng.below(8);
            }
            // Whatever comes out, a decode must return.
            let _ = decode_request(Bytes::from(bytes), &table);
        }
    }
}
