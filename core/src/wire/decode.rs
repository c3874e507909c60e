//! Reading messages: requests, replies and length-prefixed frames, never trusting a byte.

use super::*;

/// A bounds-checked reader: every read returns an error instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Truncated)?;
        let slice = self.bytes.get(self.at..end).ok_or(DecodeError::Truncated)?;
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(buf))
    }

    fn nonce(&mut self) -> Result<Nonce, DecodeError> {
        let mut buf = [0u8; NONCE_BYTES];
        buf.copy_from_slice(self.take(NONCE_BYTES)?);
        Ok(Nonce(buf))
    }

    /// A name of 0..=255 bytes; empty means "none" where the field is optional.
    fn name(&mut self) -> Result<String, DecodeError> {
        let length = usize::from(self.u8()?);
        let raw = self.take(length)?;
        let text = std::str::from_utf8(raw).map_err(|_| DecodeError::BadName("not UTF-8"))?;
        if text.chars().any(char::is_control) {
            return Err(DecodeError::BadName("control character"));
        }
        Ok(text.to_string())
    }

    fn required_name(&mut self) -> Result<String, DecodeError> {
        let name = self.name()?;
        if name.is_empty() {
            return Err(DecodeError::BadName("empty"));
        }
        Ok(name)
    }

    fn optional_name(&mut self) -> Result<Option<String>, DecodeError> {
        let name = self.name()?;
        Ok(if name.is_empty() { None } else { Some(name) })
    }

    fn heard(&mut self) -> Result<Option<Heard>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => {
                let recorded_ms = self.u64()?;
                let count = usize::from(self.u8()?);
                if count > MAX_HEARD_MEMBERS {
                    return Err(DecodeError::BadName("too many members in a record"));
                }
                let mut members = Vec::with_capacity(count);
                for _ in 0..count {
                    let member = self.required_name()?;
                    members.push((member, self.u64()?));
                }
                Ok(Some(Heard {
                    recorded_ms,
                    members,
                }))
            }
            _ => Err(DecodeError::BadName("a record is 0 or 1")),
        }
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.bytes.len() - self.at.min(self.bytes.len()) {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// Splits off the MAC and checks magic, version and length; returns the body reader.
fn open(bytes: &[u8], min_length: usize) -> Result<(Reader<'_>, &[u8]), DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge {
            length: bytes.len(),
        });
    }
    if bytes.len() < min_length {
        return Err(DecodeError::TooShort {
            length: bytes.len(),
        });
    }
    if bytes[..2] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if bytes[2] != VERSION {
        return Err(DecodeError::UnsupportedVersion(bytes[2]));
    }
    let (signed, mac) = bytes.split_at(bytes.len() - MAC_BYTES);
    Ok((
        Reader {
            bytes: signed,
            at: 3,
        },
        mac,
    ))
}

pub fn decode_request(bytes: &[u8]) -> Result<Signed<'_, Request>, DecodeError> {
    let (mut reader, mac) = open(bytes, MIN_REQUEST_BYTES)?;
    let kind = reader.u8()?;
    let flags = reader.u8()?;
    // Every bit of the byte has a meaning now (REQUEST_FLAGS is 0xff): what is checked is
    // that each is used with a kind it belongs to.
    const _: () = assert!(REQUEST_FLAGS == 0xff);
    if kind != KIND_SET && flags & (FLAG_LEASE | FLAG_NOTE | FLAG_RENEW | FLAG_WAS_UP) != 0 {
        return Err(DecodeError::UnknownFlags(flags));
    }
    if kind != KIND_QUERY && flags & (FLAG_MEMBER | FLAG_SUBSCRIBE) != 0 {
        return Err(DecodeError::UnknownFlags(flags));
    }
    let nonce = reader.nonce()?;
    let mut subscription = None;
    let body = match kind {
        KIND_QUERY => {
            let count = reader.u16()?;
            if count == 0 {
                return Err(DecodeError::BadName("a query names at least one service"));
            }
            let mut services = Vec::with_capacity(usize::from(count).min(256));
            for _ in 0..count {
                services.push(reader.required_name()?);
            }
            let member = if flags & FLAG_MEMBER != 0 {
                Some(reader.required_name()?)
            } else {
                None
            };
            if flags & FLAG_SUBSCRIBE != 0 {
                subscription = Some(reader.nonce()?);
            }
            RequestBody::Query { services, member }
        }
        KIND_SET => {
            let service = reader.required_name()?;
            let state_byte = reader.u8()?;
            let state = State::from_wire(state_byte).ok_or(DecodeError::BadState(state_byte))?;
            let backup = reader.optional_name()?;
            let challenge = reader.u64()?;
            let lease_ms = if flags & FLAG_LEASE != 0 {
                Some(reader.u32()?)
            } else {
                None
            };
            let note = if flags & FLAG_NOTE != 0 {
                Some(reader.name()?)
            } else {
                None
            };
            RequestBody::Set {
                service,
                state,
                backup,
                challenge,
                lease_ms,
                note,
                renew: flags & FLAG_RENEW != 0,
                was_up: flags & FLAG_WAS_UP != 0,
            }
        }
        KIND_LIST => RequestBody::List,
        other => return Err(DecodeError::UnknownKind(other)),
    };
    reader.finish()?;
    Ok(Signed {
        message: Request {
            nonce,
            want_challenge: flags & FLAG_WANT_CHALLENGE != 0,
            want_details: flags & FLAG_WANT_DETAILS != 0,
            subscription,
            body,
        },
        signed: reader.bytes,
        mac,
    })
}

pub fn decode_reply(bytes: &[u8]) -> Result<Signed<'_, Reply>, DecodeError> {
    let (mut reader, mac) = open(bytes, REPLY_HEADER_BYTES + MAC_BYTES)?;
    let kind = reader.u8()?;
    if kind != KIND_REPLY {
        return Err(DecodeError::UnknownKind(kind));
    }
    let flags = reader.u8()?;
    if flags & !REPLY_FLAGS != 0 {
        return Err(DecodeError::UnknownFlags(flags));
    }
    let authenticated = flags & FLAG_AUTHENTICATED != 0;
    let with_details = flags & FLAG_DETAILS != 0;
    let with_heard = flags & FLAG_HEARD != 0;
    let nonce = reader.nonce()?;
    let status_byte = reader.u8()?;
    let status = Status::from_wire(status_byte).ok_or(DecodeError::BadStatus(status_byte))?;
    if !authenticated && status != Status::Refused {
        return Err(DecodeError::UnauthenticatedStatus);
    }
    let boot_id = reader.u64()?;
    let challenge = match reader.u64()? {
        0 => None,
        c => Some(c),
    };
    let count = reader.u16()?;
    let mut entries = Vec::with_capacity(usize::from(count).min(256));
    for _ in 0..count {
        let name = reader.required_name()?;
        let state_byte = reader.u8()?;
        let state = match state_byte {
            0 => None,
            b => Some(State::from_wire(b).ok_or(DecodeError::BadState(b))?),
        };
        let backup = reader.optional_name()?;
        let since_change_ms = reader.u64()?;
        let (note, changes) = if with_details {
            (reader.optional_name()?, Some(reader.u32()?))
        } else {
            (None, None)
        };
        let heard = if with_heard { reader.heard()? } else { None };
        entries.push(Entry {
            name,
            state,
            backup,
            since_change_ms,
            note,
            changes,
            heard,
        });
    }
    reader.finish()?;
    Ok(Signed {
        message: Reply {
            nonce,
            authenticated,
            status,
            boot_id,
            challenge,
            with_details,
            with_heard,
            entries,
        },
        signed: reader.bytes,
        mac,
    })
}

/// A [`Push`] whose MAC is not yet checked (the receiver looks up the subscription first).
pub fn decode_push(bytes: &[u8]) -> Result<Signed<'_, Push>, DecodeError> {
    let (mut reader, mac) = open(bytes, PUSH_HEADER_BYTES + MAC_BYTES)?;
    let kind = reader.u8()?;
    if kind != KIND_PUSH {
        return Err(DecodeError::UnknownKind(kind));
    }
    let flags = reader.u8()?;
    if flags != 0 {
        return Err(DecodeError::UnknownFlags(flags));
    }
    let nonce = reader.nonce()?;
    let boot_id = reader.u64()?;
    let seq = reader.u64()?;
    let count = reader.u16()?;
    if count == 0 {
        return Err(DecodeError::BadName("a push names at least one service"));
    }
    let mut services = Vec::with_capacity(usize::from(count).min(256));
    for _ in 0..count {
        services.push(reader.required_name()?);
    }
    reader.finish()?;
    Ok(Signed {
        message: Push {
            nonce,
            boot_id,
            seq,
            services,
        },
        signed: reader.bytes,
        mac,
    })
}

/// The nonce of a request or reply without decoding or checking the rest: what a transport
/// needs to match a reply to the request it sent. `None` for a [`Push`], whose nonce is that
/// of a subscription answered long ago.
pub fn reply_nonce(bytes: &[u8]) -> Option<Nonce> {
    if is_push(bytes) {
        return None;
    }
    let raw = bytes.get(5..5 + NONCE_BYTES)?;
    let mut nonce = [0u8; NONCE_BYTES];
    nonce.copy_from_slice(raw);
    Some(Nonce(nonce))
}

/// Prefixes a message with its length (4 bytes, big-endian) for a TCP stream.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + message.len());
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// Reassembles length-prefixed messages from a TCP stream. A length of zero or above
/// [`MAX_MESSAGE_BYTES`] is an error: the connection must be closed, since the stream can no
/// longer be resynchronised.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    buffer: Vec<u8>,
}

impl StreamDecoder {
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes buffered but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, DecodeError> {
        if self.buffer.len() < 4 {
            return Ok(None);
        }
        let length = u32::from_be_bytes([
            self.buffer[0],
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
        ]) as usize;
        if length == 0 {
            return Err(DecodeError::TooShort { length });
        }
        if length > MAX_MESSAGE_BYTES {
            return Err(DecodeError::TooLarge { length });
        }
        if self.buffer.len() < 4 + length {
            return Ok(None);
        }
        let message = self.buffer[4..4 + length].to_vec();
        self.buffer.drain(..4 + length);
        Ok(Some(message))
    }
}
