//! Gives back the pages a daemon touched only while it started (argument parsing, the
//! configuration, the Tcl interpreter's setup, the dynamic loader's relocations, libc's
//! initialisation), so that its resident memory is what its loop uses (issue 14: faild +
//! failsh idle at most 5 MB together; `bench/memory.sh`).
//!
//! Two kinds of memory go:
//! - Clean file pages: every private, read-only mapping of a file (the program's code and
//!   read-only data, and the shared libraries') that holds no page of its own
//!   (`Anonymous: 0 kB` in smaps). Such pages are copies of the file: dropping them from this
//!   process's page tables loses nothing, and a page needed again is mapped back from the page
//!   cache on its next use. A mapping that holds a written page (the relocated part of a
//!   library's read-only data, written once by the loader and then protected) is left alone,
//!   since dropping it would put the unrelocated file page back.
//! - The heap's free pages (`malloc_trim`), which glibc keeps after startup's allocations.
//!
//! The libraries' pages are shared with every process that maps them; dropping them here
//! changes only this process's page tables and what its VmRSS counts.

/// Drops the clean file pages and the heap's free pages of this process. Errors are
/// ignored: the only cost of a failure is memory.
#[allow(unsafe_code)]
pub fn release_startup_code() {
    #[cfg(target_os = "linux")]
    {
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return;
        };
        for (start, end) in clean_file_mappings(&smaps) {
            // SAFETY: the range is a private, read-only mapping of a file that holds no
            // anonymous page (from /proc/self/smaps): MADV_DONTNEED on it only drops
            // page-table entries of clean file pages, which fault back in from the file
            // unchanged when used. Nothing can write to it meanwhile (it is read-only).
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only returns free heap memory to the kernel; it takes the
        // allocator's own locks.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// How long after the start [`release_when_settled`] gives back what the first rounds used.
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// [`release_startup_code`] once more, [`SETTLE`] from now, from a short-lived thread: the
/// first rounds, the first decisions, the first start (its Tcl procedure) and their log lines
/// run code an idle loop never runs again. Whatever a later transition needs faults back in.
pub fn release_when_settled() {
    let _ = std::thread::Builder::new()
        .name("resident".to_string())
        .stack_size(64 * 1024)
        .spawn(|| {
            std::thread::sleep(SETTLE);
            release_startup_code();
        });
}

/// The address ranges of the private, read-only file mappings in `smaps` that hold no
/// anonymous (written) page.
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut clean = Vec::new();
    // The mapping being read: its range, and whether it qualifies so far.
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else {
            continue;
        };
        if let Some((start, end)) = first.split_once('-') {
            // A mapping's header: "start-end perms offset dev inode [path]".
            let perms = fields.next().unwrap_or("");
            let path = fields.nth(3).unwrap_or("");
            let range = match (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) {
                (Ok(start), Ok(end)) if end > start => Some((start, end)),
                _ => None,
            };
            let private_read_only = perms.len() == 4
                && perms.starts_with('r')
                && &perms[1..2] == "-"
                && perms.ends_with('p');
            current = range.filter(|_| private_read_only && path.starts_with('/'));
        } else if first == "Anonymous:" {
            let anonymous_kib = fields.next().and_then(|v| v.parse::<u64>().ok());
            if let Some(range) = current.take() {
                if anonymous_kib == Some(0) {
                    clean.push(range);
                }
            }
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0100000 r--p 00000000 08:01 1234 /usr/sbin/failsh
Rss:                 400 kB
Anonymous:             0 kB
55d0c0100000-55d0c0400000 r-xp 00100000 08:01 1234 /usr/sbin/failsh
Rss:                1200 kB
Anonymous:             0 kB
55d0c0400000-55d0c0410000 r--p 00400000 08:01 1234 /usr/sbin/failsh
Rss:                  64 kB
Anonymous:            64 kB
55d0c0410000-55d0c0411000 rw-p 00410000 08:01 1234 /usr/sbin/failsh
Anonymous:             4 kB
7f0000000000-7f0000021000 rw-p 00000000 00:00 0
Anonymous:           132 kB
7f0000100000-7f0000280000 r-xp 00028000 08:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
7f0000300000-7f0000301000 r--s 00000000 08:01 77 /dev/shm/shared
Anonymous:             0 kB
7fff00000000-7fff00002000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
";

    #[test]
    fn only_private_read_only_file_mappings_without_written_pages_go() {
        assert_eq!(
            clean_file_mappings(SMAPS),
            vec![
                (0x55d0c0000000, 0x55d0c0100000),
                (0x55d0c0100000, 0x55d0c0400000),
                (0x7f0000100000, 0x7f0000280000),
            ]
        );
    }

    #[test]
    fn a_mapping_whose_anonymous_line_is_missing_or_garbled_stays() {
        let smaps = "\
1000-2000 r-xp 00000000 08:01 1 /bin/x
Rss: 4 kB
3000-4000 r-xp 00000000 08:01 1 /bin/x
Anonymous: lots kB
zzzz-4000 r-xp 00000000 08:01 1 /bin/x
Anonymous: 0 kB
";
        assert_eq!(clean_file_mappings(smaps), Vec::new());
    }

    /// The resident kB of the mapping that starts at `start`, from smaps.
    fn rss_kib(smaps: &str, start: usize) -> u64 {
        let header = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&header));
        lines
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("the mapping's Rss")
    }

    #[test]
    fn this_process_gives_back_its_code_and_goes_on() {
        let exe = std::fs::read_link("/proc/self/exe").expect("exe");
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        let code = maps
            .lines()
            .find(|l| l.contains(" r-xp ") && l.ends_with(&*exe.to_string_lossy()))
            .expect("the test program's code mapping");
        let start = usize::from_str_radix(code.split('-').next().unwrap(), 16).unwrap();
        let before = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        assert!(
            clean_file_mappings(&before)
                .iter()
                .any(|&(s, _)| s == start),
            "the program's own code ({code}) is not found clean"
        );
        release_startup_code();
        let after = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        // What runs from here on faults back in, a little; what the harness touched while
        // starting does not.
        assert!(
            rss_kib(&after, start) < rss_kib(&before, start),
            "code resident before {} kB, after {} kB",
            rss_kib(&before, start),
            rss_kib(&after, start)
        );
    }
}
