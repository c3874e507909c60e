use super::*;
use crate::wire::{self, Nonce, Reply, Status};
use core::net::{Ipv4Addr, Ipv6Addr};

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn limits(max_connections: usize, max_unauthenticated: usize, max_per_source: usize) -> TcpLimits {
    TcpLimits {
        max_connections,
        max_unauthenticated,
        max_per_source,
        ..TcpLimits::default()
    }
}

fn reply(authenticated: bool) -> Vec<u8> {
    let reply = Reply {
        nonce: Nonce([7; 16]),
        authenticated,
        status: if authenticated {
            Status::Ok
        } else {
            Status::Refused
        },
        boot_id: 1,
        challenge: None,
        with_details: false,
        with_heard: false,
        entries: Vec::new(),
    };
    wire::encode_reply(&reply, authenticated.then_some("public")).unwrap()
}

fn admitted(admission: Admission) -> (u64, Option<(u64, Eviction)>) {
    match admission {
        Admission::Admitted {
            connection,
            evicted,
        } => (connection, evicted),
        Admission::Refused => panic!("refused"),
    }
}

#[test]
fn the_flag_byte_of_real_replies_says_who_is_authenticated() {
    assert!(reply_is_authenticated(&reply(true)));
    assert!(!reply_is_authenticated(&reply(false)));
    // A request (kind 01) with bit 0 set (want challenge) is not a reply.
    let mut request = reply(true);
    request[3] = 0x01;
    assert!(!reply_is_authenticated(&request));
    assert!(!reply_is_authenticated(&[]));
    assert!(!reply_is_authenticated(b"FO\x01\x81"));
}

#[test]
fn normalized_limits_always_leave_room_for_one_eviction() {
    let odd = TcpLimits {
        idle_timeout_ms: 0,
        unauthenticated_idle_timeout_ms: 0,
        frame_timeout_ms: 0,
        max_connections: 0,
        max_unauthenticated: 100,
        max_per_source: 500,
    }
    .normalized();
    assert_eq!(odd.max_connections, 1);
    assert_eq!(odd.max_unauthenticated, 1);
    assert_eq!(odd.max_per_source, 1);
    assert_eq!(odd.frame_timeout_ms, 1);
    assert_eq!(limits(256, 64, 16).normalized(), limits(256, 64, 16));
}

#[test]
fn beyond_the_unauthenticated_limit_the_oldest_unauthenticated_connection_goes() {
    let mut table = Connections::new(limits(10, 3, 3));
    let first: Vec<u64> = (1..=3).map(|n| admitted(table.admit(v4(n))).0).collect();
    assert_eq!(table.unauthenticated(), 3);
    let (fourth, evicted) = admitted(table.admit(v4(4)));
    assert_eq!(evicted, Some((first[0], Eviction::UnauthenticatedFull)));
    assert_eq!(table.len(), 3);
    // The next one takes the second oldest, never the newest.
    let (_, evicted) = admitted(table.admit(v4(5)));
    assert_eq!(evicted, Some((first[1], Eviction::UnauthenticatedFull)));
    assert!(fourth > first[2]);
}

#[test]
fn the_heaviest_source_loses_its_oldest_connection_however_young() {
    let mut table = Connections::new(limits(10, 4, 3));
    // The poller's connection (source 1) is the oldest of all.
    let poller = admitted(table.admit(v4(1))).0;
    let flood: Vec<u64> = (0..3).map(|_| admitted(table.admit(v4(2))).0).collect();
    // A burst from a third source: it closes source 2's while that holds the most...
    let mut burst = Vec::new();
    for (n, victim) in flood.iter().take(2).enumerate() {
        let (id, evicted) = admitted(table.admit(v4(3)));
        assert_eq!(
            evicted,
            Some((*victim, Eviction::UnauthenticatedFull)),
            "burst {n}"
        );
        burst.push(id);
    }
    // ... then its own, never the poller's.
    for n in 0..20 {
        let (_, evicted) = admitted(table.admit(v4(3)));
        assert!(matches!(evicted, Some((id, _)) if id != poller), "{n}");
    }
    assert!(!table.open.contains_key(&burst[0]));
    assert!(table.open.contains_key(&flood[2]));
    assert!(table.open.contains_key(&poller));
    // A burst from as many sources as there are unauthenticated slots reaches it at last.
    let mut lost = false;
    for n in 10..20 {
        if let (_, Some((id, _))) = admitted(table.admit(v4(n))) {
            lost |= id == poller;
        }
    }
    assert!(lost, "with one connection per source the oldest goes");
}

#[test]
fn a_source_at_its_limit_loses_its_own_oldest_connection_not_someone_elses() {
    let mut table = Connections::new(limits(10, 8, 2));
    let other = admitted(table.admit(v4(9))).0;
    let a = admitted(table.admit(v4(1))).0;
    let _b = admitted(table.admit(v4(1))).0;
    let (_, evicted) = admitted(table.admit(v4(1)));
    assert_eq!(evicted, Some((a, Eviction::SourceFull)));
    assert!(table.open.contains_key(&other));
}

#[test]
fn authenticated_connections_are_never_evicted_and_a_full_table_of_them_refuses() {
    let mut table = Connections::new(limits(3, 2, 2));
    let mut ids = Vec::new();
    for n in 1..=3 {
        let (id, evicted) = admitted(table.admit(v4(n)));
        assert_eq!(evicted, None);
        assert!(table.replied(id, &reply(true)));
        ids.push(id);
    }
    assert_eq!(table.unauthenticated(), 0);
    assert_eq!(table.admit(v4(7)), Admission::Refused);
    // One authenticated leaves: room again.
    table.closed(ids[0], &Close::ClosedByClient);
    let (_, evicted) = admitted(table.admit(v4(7)));
    assert_eq!(evicted, None);
    // Full again, with one unauthenticated: that one goes, not an authenticated one.
    let (stranger_2, evicted) = admitted(table.admit(v4(8)));
    assert!(matches!(evicted, Some((_, Eviction::TableFull))));
    assert!(ids[1..].iter().all(|id| table.is_authenticated(*id)));
    assert!(!table.is_authenticated(stranger_2));
}

#[test]
fn a_refused_reply_does_not_authenticate_and_a_source_has_at_most_its_share() {
    let mut table = Connections::new(limits(10, 10, 2));
    let a = admitted(table.admit(v4(1))).0;
    assert!(!table.replied(a, &reply(false)));
    assert!(table.replied(a, &reply(true)));
    // Only the first authenticated reply promotes.
    assert!(!table.replied(a, &reply(true)));
    let b = admitted(table.admit(v4(1))).0;
    assert!(table.replied(b, &reply(true)));
    // A third from the same source stays unauthenticated, so strangers can evict it.
    let c = admitted(table.admit(v4(1))).0;
    assert!(!table.replied(c, &reply(true)));
    assert!(!table.is_authenticated(c));
    assert!(!table.replied(99, &reply(true)), "unknown connection");
}

#[test]
fn ipv6_sources_count_by_their_64_prefix() {
    let one = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0, 0, 0, 1));
    let two = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, 0xffff, 0, 0, 9));
    let elsewhere = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
    assert_eq!(SourceKey::of(one), SourceKey::of(two));
    assert_ne!(SourceKey::of(one), SourceKey::of(elsewhere));
    assert_eq!(SourceKey::of(one).to_string(), "2001:db8:1:2::/64");
    let mut table = Connections::new(limits(10, 10, 1));
    let first = admitted(table.admit(one)).0;
    let (_, evicted) = admitted(table.admit(two));
    assert_eq!(evicted, Some((first, Eviction::SourceFull)));
}

#[test]
fn closing_twice_or_after_eviction_changes_nothing() {
    let mut table = Connections::new(limits(4, 2, 2));
    let a = admitted(table.admit(v4(1))).0;
    let b = admitted(table.admit(v4(2))).0;
    let (_, evicted) = admitted(table.admit(v4(3)));
    assert_eq!(evicted, Some((a, Eviction::UnauthenticatedFull)));
    table.closed(a, &Close::Evicted(Eviction::UnauthenticatedFull));
    table.closed(b, &Close::ClosedByClient);
    table.closed(b, &Close::ClosedByClient);
    assert_eq!(table.len(), 1);
    assert_eq!(table.unauthenticated(), 1);
}

/// Random admissions, replies and closes never break the counts or the limits.
#[test]
fn random_traffic_keeps_every_count_within_its_limit() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let limits = limits(20, 8, 3);
    let mut table = Connections::new(limits);
    let mut ids: Vec<u64> = Vec::new();
    for _ in 0..20_000 {
        match next() % 4 {
            0 | 1 => {
                if let Admission::Admitted {
                    connection,
                    evicted,
                } = table.admit(v4((next() % 6) as u8))
                {
                    if let Some((victim, _)) = evicted {
                        ids.retain(|id| *id != victim);
                    }
                    ids.push(connection);
                }
            }
            2 if !ids.is_empty() => {
                let id = ids[(next() as usize) % ids.len()];
                table.replied(id, &reply(next() % 2 == 0));
            }
            _ if !ids.is_empty() => {
                let id = ids.swap_remove((next() as usize) % ids.len());
                table.closed(id, &Close::ClosedByClient);
            }
            _ => {}
        }
        assert!(table.len() <= limits.max_connections);
        assert!(table.unauthenticated() <= limits.max_unauthenticated);
        assert_eq!(table.len(), ids.len());
        let unauthenticated = table.open.values().filter(|s| !s.authenticated).count();
        assert_eq!(unauthenticated, table.unauthenticated());
        for (source, counts) in &table.sources {
            assert!(counts.unauthenticated <= limits.max_per_source);
            assert!(counts.authenticated <= limits.max_per_source);
            let open = table.open.values().filter(|s| s.source == *source).count();
            assert_eq!(open, counts.unauthenticated + counts.authenticated);
        }
    }
}

#[test]
fn the_report_comes_at_once_then_at_most_every_interval() {
    let mut table = Connections::new(limits(10, 1, 1));
    assert_eq!(table.take_report(0), None);
    admitted(table.admit(v4(1)));
    admitted(table.admit(v4(1)));
    let first = table.take_report(1_000).expect("first report at once");
    assert!(first.contains("closed 1 unauthenticated"), "{first}");
    assert!(first.contains("most from 192.0.2.1 (1)"), "{first}");
    for _ in 0..100 {
        admitted(table.admit(v4(2)));
    }
    assert_eq!(table.take_report(5_000), None);
    let second = table.take_report(11_000).expect("after the interval");
    assert!(second.starts_with("TCP in the last 10 s:"), "{second}");
    assert!(second.contains("closed 100 unauthenticated"), "{second}");
    assert_eq!(table.take_report(30_000), None, "nothing new");
}

fn framed(body: &[u8]) -> Vec<u8> {
    wire::frame(body)
}

#[test]
fn frames_are_reassembled_from_any_split() {
    let mut bytes = framed(b"first");
    bytes.extend(framed(&[9u8; 300]));
    for split in 0..bytes.len() {
        let mut reader = FrameReader::new(TcpLimits::default(), 0);
        let mut frames = Vec::new();
        reader.push(1, &bytes[..split], false, &mut frames).unwrap();
        reader.push(2, &bytes[split..], false, &mut frames).unwrap();
        assert_eq!(
            frames,
            vec![b"first".to_vec(), vec![9u8; 300]],
            "split {split}"
        );
        assert_eq!(reader.buffered(), 0);
    }
}

#[test]
fn a_trickled_frame_is_cut_off_at_its_deadline_from_the_first_byte() {
    let limits = TcpLimits::default();
    let mut reader = FrameReader::new(limits, 0);
    let mut frames = Vec::new();
    reader
        .push(100, &1000u32.to_be_bytes(), false, &mut frames)
        .unwrap();
    // A byte every 100 ms does not move the deadline.
    for t in 1..10 {
        reader
            .push(100 + t * 100, &[0], false, &mut frames)
            .unwrap();
        assert_eq!(reader.deadline_ms(false), 1_100);
    }
    assert_eq!(reader.expired(1_099, false), None);
    assert_eq!(
        reader.expired(1_100, true),
        Some(Close::FrameTimeout {
            ms: 1_000,
            received: 9,
            length: Some(1000)
        })
    );
    assert!(frames.is_empty());
    // Half a length prefix is a frame in progress too.
    let mut reader = FrameReader::new(limits, 0);
    reader.push(50, &[0, 0], false, &mut frames).unwrap();
    assert!(matches!(
        reader.expired(1_050, false),
        Some(Close::FrameTimeout {
            length: None,
            received: 2,
            ..
        })
    ));
}

#[test]
fn idle_time_depends_on_authentication_and_counts_from_the_last_frame() {
    let limits = TcpLimits::default();
    let mut reader = FrameReader::new(limits, 0);
    assert_eq!(
        reader.wait_ms(0, false),
        DEFAULT_TCP_UNAUTHENTICATED_IDLE_TIMEOUT_MS
    );
    assert_eq!(reader.wait_ms(0, true), DEFAULT_TCP_IDLE_TIMEOUT_MS);
    let mut frames = Vec::new();
    reader
        .push(2_000, &framed(b"x"), false, &mut frames)
        .unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(reader.deadline_ms(false), 7_000);
    assert_eq!(
        reader.expired(7_000, false),
        Some(Close::Idle {
            ms: 5_000,
            authenticated: false
        })
    );
    assert_eq!(reader.expired(7_000, true), None);
    assert_eq!(reader.wait_ms(100_000, true), 1, "never zero");
}

#[test]
fn frame_limits_depend_on_authentication() {
    let mut frames = Vec::new();
    let big = (UNAUTHENTICATED_FRAME_BYTES as u32 + 1).to_be_bytes();
    let mut reader = FrameReader::new(TcpLimits::default(), 0);
    assert_eq!(
        reader.push(0, &big, false, &mut frames),
        Err(Close::FrameTooLarge {
            length: UNAUTHENTICATED_FRAME_BYTES + 1,
            limit: UNAUTHENTICATED_FRAME_BYTES
        })
    );
    let mut reader = FrameReader::new(TcpLimits::default(), 0);
    assert_eq!(reader.push(0, &big, true, &mut frames), Ok(()));
    let mut reader = FrameReader::new(TcpLimits::default(), 0);
    let over = (MAX_MESSAGE_BYTES as u32 + 1).to_be_bytes();
    assert!(matches!(
        reader.push(0, &over, true, &mut frames),
        Err(Close::FrameTooLarge { .. })
    ));
    let mut reader = FrameReader::new(TcpLimits::default(), 0);
    assert_eq!(
        reader.push(0, &[0, 0, 0, 0], true, &mut frames),
        Err(Close::EmptyFrame)
    );
}

#[test]
fn a_strangers_memory_grows_with_the_bytes_sent_not_with_the_length_announced() {
    let mut reader = FrameReader::new(TcpLimits::default(), 0);
    let mut frames = Vec::new();
    reader
        .push(0, &16_000u32.to_be_bytes(), false, &mut frames)
        .unwrap();
    reader.push(1, &[1], false, &mut frames).unwrap();
    assert!(reader.body.capacity() < 1024, "{}", reader.body.capacity());
    // An authenticated connection's frame is allocated whole at once.
    let mut reader = FrameReader::new(TcpLimits::default(), 0);
    reader
        .push(0, &60_000u32.to_be_bytes(), true, &mut frames)
        .unwrap();
    assert_eq!(reader.body.capacity(), 60_000);
}

#[test]
fn frames_in_flight_block_reading_and_faild_delay_is_not_held_against_the_client() {
    let limits = TcpLimits::default();
    let mut reader = FrameReader::new(limits, 0);
    assert!(reader.may_send(false));
    reader.sent(10, false);
    assert!(!reader.may_send(false), "unauthenticated: one at a time");
    assert!(reader.may_send(true));
    // faild takes 8 s to handle it: the idle deadline moves by those 8 s.
    let before = reader.deadline_ms(false);
    reader.handled(8_010);
    assert_eq!(reader.deadline_ms(false), before + 8_000);
    assert!(reader.may_send(false));
    // Authenticated: eight at a time.
    for n in 0..AUTHENTICATED_FRAMES_IN_FLIGHT {
        assert!(reader.may_send(true), "{n}");
        reader.sent(9_000, true);
    }
    assert!(!reader.may_send(true));
    assert_eq!(reader.in_flight(), AUTHENTICATED_FRAMES_IN_FLIGHT);
}

#[test]
fn a_throttle_lets_one_line_through_per_interval_and_counts_the_rest() {
    let mut throttle = Throttle::default();
    assert_eq!(throttle.allow(0), Some(0));
    assert_eq!(throttle.allow(100), None);
    assert_eq!(throttle.allow(9_999), None);
    assert_eq!(throttle.allow(10_000), Some(2));
    assert_eq!(throttle.allow(25_000), Some(0));
}

#[test]
fn refused_requests_are_one_warning_then_one_summary_per_interval() {
    let mut log = RefusalLog::default();
    assert_eq!(log.take_summary(0), None);
    assert!(log.refused(0, v4(1)), "the first is a warning");
    for n in 0..50 {
        assert!(!log.refused(10 + n, v4(if n < 40 { 2 } else { 3 })));
    }
    assert_eq!(log.take_summary(9_999), None);
    let summary = log.take_summary(10_000).expect("after the interval");
    assert!(
        summary.starts_with("refused 50 more requests in the last 10 s"),
        "{summary}"
    );
    assert!(summary.ends_with("most from 192.0.2.2 (40)"), "{summary}");
    // The summary counts as the warning of its interval.
    assert!(!log.refused(10_001, v4(1)));
    assert_eq!(log.take_summary(15_000), None);
    assert!(log.take_summary(20_001).is_some());
    // Quiet for an interval: the next one is a warning again.
    assert!(log.refused(40_000, v4(1)));
    // Thousands of sources: the map stays small.
    for n in 0..10_000u32 {
        log.refused(40_001, IpAddr::V4(Ipv4Addr::from(n)));
    }
    assert!(log.by_source.len() <= 64);
}
