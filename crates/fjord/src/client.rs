//! [`Client`]: a minimal blocking Kafka client for the operator commands — one connection, one
//! request at a time, any API `kafka-protocol` knows, framed by [`ClientCodec`] (headers chosen
//! by version as Kafka defines them, responses bounded in size).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result};
use fjord_protocol::ClientCodec;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::{Decodable, Encodable};

/// The largest response the operator commands accept (a Metadata or DescribeGroups of a big
/// cluster stays far below it).
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

pub struct Client {
    stream: TcpStream,
    codec: ClientCodec,
}

impl Client {
    pub fn connect(addr: &str) -> Result<Self> {
        let stream = TcpStream::connect(addr).with_context(|| format!("cannot connect to {addr}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self { stream, codec: ClientCodec::new("fjord-cli", MAX_RESPONSE) })
    }

    /// Sends `request` at `version` and decodes the response.
    pub fn send<Req: Encodable, Resp: Decodable>(&mut self, key: ApiKey, version: i16, request: &Req) -> Result<Resp> {
        let frame = self.codec.encode(key, version, request)?;
        self.stream.write_all(&frame)?;
        let mut prefix = [0u8; 4];
        self.stream.read_exact(&mut prefix)?;
        let mut frame = vec![0u8; self.codec.response_len(prefix)?];
        self.stream.read_exact(&mut frame)?;
        Ok(self.codec.decode(key, version, frame.into())?)
    }
}
