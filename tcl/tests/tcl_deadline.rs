//! Deadlines: a procedure past its time limit is stopped, and so is
//! everything it started with `exec`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use failover_tcl::Interp;

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("failover-tcl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_deadline_kills_the_whole_process_group() {
    let dir = temp_dir("deadline");
    let pidfile = dir.join("grandchild");
    let text = format!(
        "proc slow {{}} {{\n    exec sh -c {{sleep 30 & echo $! > '{}'; wait}}\n    return UP\n}}\n",
        pidfile.display()
    );
    let mut it = Interp::new();
    it.eval_source(&text, "x.tcl").unwrap();
    it.set_deadline(Some(Instant::now() + Duration::from_millis(300)));
    let t0 = Instant::now();
    let e = it.call_proc("slow", &[]).unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(e.message, "procedure \"slow\" exceeded its time limit");
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    // the background grandchild must be gone too (give the kernel a moment)
    let mut alive = true;
    for _ in 0..50 {
        // gone, or a zombie waiting for init to reap it
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .chars()
            .next();
        if stat.is_empty() || state == Some('Z') {
            alive = false;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive, "grandchild {pid} survived the deadline");
}

#[test]
fn deadlines_stop_after_and_endless_loops() {
    let mut it = Interp::new();
    it.set_deadline(Some(Instant::now() + Duration::from_millis(100)));
    let t0 = Instant::now();
    assert!(it.eval("after 5000").is_err());
    assert!(t0.elapsed() < Duration::from_secs(2));
    it.set_deadline(Some(Instant::now() + Duration::from_millis(100)));
    let e = it.eval("while 1 {}").unwrap_err();
    assert!(format!("{e:?}").contains("exceeded its time limit"));
    it.set_deadline(None);
    let t0 = Instant::now();
    it.eval("after 30").unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(30));
}
