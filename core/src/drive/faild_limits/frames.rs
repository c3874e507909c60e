//! Reading length-prefixed frames from one TCP connection within its limits.

use super::*;

/// One connection's reading side: reassembles length-prefixed frames with the connection's
/// frame limit, and knows when the connection must be closed for being too slow or idle.
#[derive(Debug)]
pub struct FrameReader {
    pub(super) limits: TcpLimits,
    pub(super) header: [u8; 4],
    pub(super) header_length: usize,
    /// The frame's length once its 4 length bytes are in.
    pub(super) length: Option<usize>,
    pub(super) body: Vec<u8>,
    /// The first byte of the frame in progress arrived then.
    pub(super) frame_started_ms: Option<u64>,
    /// The last frame ended (or the connection opened) then.
    pub(super) idle_since_ms: u64,
    pub(super) in_flight: usize,
    /// Frames in flight reached the limit then: the reader stopped reading until faild
    /// handles one, and that wait is not held against the client's timers.
    pub(super) blocked_since_ms: Option<u64>,
}

impl FrameReader {
    pub fn new(limits: TcpLimits, now_ms: u64) -> FrameReader {
        FrameReader {
            limits: limits.normalized(),
            header: [0; 4],
            header_length: 0,
            length: None,
            body: Vec::new(),
            frame_started_ms: None,
            idle_since_ms: now_ms,
            in_flight: 0,
            blocked_since_ms: None,
        }
    }

    /// Bytes read at `now_ms`; complete frames are appended to `frames`. An error closes the
    /// connection (a length of 0 or above the connection's limit).
    pub fn push(
        &mut self,
        now_ms: u64,
        mut bytes: &[u8],
        authenticated: bool,
        frames: &mut Vec<Vec<u8>>,
    ) -> Result<(), Close> {
        while !bytes.is_empty() {
            if self.frame_started_ms.is_none() {
                self.frame_started_ms = Some(now_ms);
            }
            let Some(length) = self.length else {
                let take = (4 - self.header_length).min(bytes.len());
                self.header[self.header_length..self.header_length + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_length += take;
                bytes = &bytes[take..];
                if self.header_length == 4 {
                    let length = u32::from_be_bytes(self.header) as usize;
                    let limit = frame_limit(authenticated);
                    if length == 0 {
                        return Err(Close::EmptyFrame);
                    }
                    if length > limit {
                        return Err(Close::FrameTooLarge { length, limit });
                    }
                    self.length = Some(length);
                    // A stranger's frame grows with the bytes that arrive, not with the
                    // length it announced; an authenticated one gets its length at once
                    // (one allocation instead of a chain of reallocations, which with
                    // 64 KB frames on many reader threads leaves more memory behind).
                    self.body = if authenticated {
                        Vec::with_capacity(length)
                    } else {
                        Vec::new()
                    };
                }
                continue;
            };
            let take = (length - self.body.len()).min(bytes.len());
            self.body.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.body.len() == length {
                frames.push(std::mem::take(&mut self.body));
                self.header_length = 0;
                self.length = None;
                self.frame_started_ms = None;
                self.idle_since_ms = now_ms;
            }
        }
        Ok(())
    }

    /// When the connection must be closed unless more arrives: the frame in progress's
    /// deadline, else the idle timeout. Milliseconds on the clock of `now_ms`.
    pub fn deadline_ms(&self, authenticated: bool) -> u64 {
        match self.frame_started_ms {
            Some(started) => started.saturating_add(self.limits.frame_timeout_ms),
            None => self
                .idle_since_ms
                .saturating_add(self.limits.idle_timeout(authenticated)),
        }
    }

    /// How long the runtime may wait for bytes from `now_ms` (at least 1 ms).
    pub fn wait_ms(&self, now_ms: u64, authenticated: bool) -> u64 {
        self.deadline_ms(authenticated)
            .saturating_sub(now_ms)
            .max(1)
    }

    /// Why the connection must be closed at `now_ms`, if it must.
    pub fn expired(&self, now_ms: u64, authenticated: bool) -> Option<Close> {
        if now_ms < self.deadline_ms(authenticated) {
            return None;
        }
        Some(match self.frame_started_ms {
            Some(_) => Close::FrameTimeout {
                ms: self.limits.frame_timeout_ms,
                received: match self.length {
                    Some(_) => self.body.len(),
                    None => self.header_length,
                },
                length: self.length,
            },
            None => Close::Idle {
                ms: self.limits.idle_timeout(authenticated),
                authenticated,
            },
        })
    }

    /// Whether another frame may be handed to faild now (see [`frames_in_flight`]); if
    /// not, the runtime waits for [`FrameReader::handled`] before sending or reading more.
    pub fn may_send(&self, authenticated: bool) -> bool {
        self.in_flight < frames_in_flight(authenticated)
    }

    /// A frame was handed to faild at `now_ms`.
    pub fn sent(&mut self, now_ms: u64, authenticated: bool) {
        self.in_flight += 1;
        if !self.may_send(authenticated) && self.blocked_since_ms.is_none() {
            self.blocked_since_ms = Some(now_ms);
        }
    }

    /// faild handled one of this connection's frames (the runtime learnt it at `now_ms`).
    /// The time the reader was blocked for it is added to the frame's and the idle
    /// deadline: faild's own delay is not the client's.
    pub fn handled(&mut self, now_ms: u64) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if let Some(since) = self.blocked_since_ms.take() {
            let blocked = now_ms.saturating_sub(since);
            self.idle_since_ms = self.idle_since_ms.saturating_add(blocked);
            self.frame_started_ms = self.frame_started_ms.map(|t| t.saturating_add(blocked));
        }
    }

    /// Frames handed to faild and not handled yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Bytes held for the frame in progress.
    pub fn buffered(&self) -> usize {
        self.header_length + self.body.len()
    }
}
