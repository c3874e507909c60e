//! Gives back the pages of code a daemon touched only while it started (argument parsing,
//! configuration, the Tcl interpreter's setup), so that its resident memory is what its loop
//! uses (issue 14: faild + failsh idle at most 5 MB together; `bench/memory.sh`).
//!
//! Code pages are clean copies of the program file: unmapping them loses nothing, and a page
//! needed again is read back from the page cache on its next use. Only the executable
//! (`r-xp`) mappings of the program itself are dropped: its read-only data may hold
//! relocated (written) pages, and the shared libraries are shared with every other process.

/// Drops the program's code pages from this process's page tables. Errors are ignored: the
/// only cost of a failure is memory.
#[allow(unsafe_code)]
pub fn release_startup_code() {
    #[cfg(target_os = "linux")]
    {
        let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
            return;
        };
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return;
        };
        let exe = exe.to_string_lossy();
        for line in maps.lines() {
            let mut fields = line.split_whitespace();
            let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                continue;
            };
            let path = fields.nth(3).unwrap_or("");
            if perms != "r-xp" || path != exe {
                continue;
            }
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                continue;
            };
            // SAFETY: the range is a private, read-only, executable mapping of the program
            // file (from /proc/self/maps): MADV_DONTNEED on it only drops page-table entries
            // of clean file pages, which fault back in from the file unchanged when used.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
            }
        }
    }
}
