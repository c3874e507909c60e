//! The seed's configurations (examples/lukretia.tcl, examples/macbeth.tcl),
//! the configuration model and the interpreter API failsh uses (the
//! interpreter's deadlines are tested in the failover-tcl crate).

use std::path::{Path, PathBuf};

use failover_cli::config::{
    check_file, load_file, load_str, validate, FailshConfig, HostDef, Protocol, ServiceDef,
};
use failover_tcl::Interp;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("failover-tclcfg-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn lukretia_loads_as_the_seed_describes() {
    let loaded = load_file(&example("lukretia.tcl")).unwrap();
    let mut expected = FailshConfig::default();
    let mut s = ServiceDef::new("198.18.0.50");
    s.interval_ms = 5000;
    s.start = Some("startservice".into());
    s.stop = Some("stopservice".into());
    s.reclaim = Some("reclaimservice".into());
    s.slaves = vec!["macbeth".into()];
    expected.services.insert(s.name.clone(), s);
    let mut m = HostDef::new("macbeth");
    m.community = "public".into();
    expected.hosts.insert("macbeth".into(), m);
    let mut l = HostDef::new("localhost");
    l.community = "genesis".into();
    expected.hosts.insert("localhost".into(), l);
    // Where each line was given is kept for messages; compared apart.
    let mut config = loaded.config.clone();
    let at = std::mem::take(&mut config.services.get_mut("198.18.0.50").unwrap().at);
    assert_eq!(config, expected);
    let line = |what: &str| at.get(what).map(|(_, line)| *line);
    assert_eq!((line("create"), line("slaves")), (Some(22), Some(27)));
    assert!(validate(&loaded).is_empty());
}

#[test]
fn macbeth_loads_with_lukretia_as_master() {
    let loaded = load_file(&example("macbeth.tcl")).unwrap();
    let s = &loaded.config.services["198.18.0.50"];
    assert_eq!(s.masters, vec!["lukretia".to_string()]);
    assert!(s.slaves.is_empty());
    assert_eq!(loaded.config.hosts["lukretia"].protocol, Protocol::Tcp);
    assert_eq!(loaded.config.hosts["lukretia"].port, 1291);
}

#[test]
fn check_file_describes_services_and_masks_communities() {
    let (_, d) = check_file(&example("lukretia.tcl")).unwrap();
    assert!(d.contains("service 198.18.0.50: interval 5s"), "{d}");
    assert!(d.contains("  slaves: macbeth"), "{d}");
    assert!(
        d.contains("procedures: start startservice, stop stopservice, reclaim reclaimservice"),
        "{d}"
    );
    assert!(d.contains("host localhost: address (name), port 1291, protocol tcp, community ***"));
    assert!(
        !d.contains("genesis"),
        "communities must not be printed: {d}"
    );
}

/// The test rewrites only the script path `/etc/init.d/198.18.0.50` in a
/// copy of the example (the test machine has no such script) to a real
/// executable that leaves a marker, then calls `startservice` for real.
fn with_real_script(example_name: &str, tag: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let script = dir.join("198.18.0.50");
    let marker = dir.join("marker");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> '{}'\nexit 0\n", marker.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = std::fs::read_to_string(example(example_name)).unwrap();
    assert_eq!(text.matches("/etc/init.d/198.18.0.50").count(), 3);
    let text = text.replace("/etc/init.d/198.18.0.50", &script.display().to_string());
    let cfg = dir.join(example_name);
    std::fs::write(&cfg, text).unwrap();
    (cfg, marker)
}

#[test]
fn calling_the_start_procedure_runs_the_real_command_and_returns_up() {
    for (name, stop_state) in [("lukretia.tcl", "FAIL"), ("macbeth.tcl", "RECOVER")] {
        let (cfg, marker) = with_real_script(name, name);
        let mut loaded = load_file(&cfg).unwrap();
        assert_eq!(loaded.interp.call_proc("startservice", &[]).unwrap(), "UP");
        assert_eq!(std::fs::read_to_string(&marker).unwrap(), "up\n");
        assert_eq!(
            loaded.interp.call_proc("stopservice", &[]).unwrap(),
            stop_state
        );
        assert_eq!(
            loaded.interp.call_proc("reclaimservice", &[]).unwrap(),
            "UP"
        );
        assert_eq!(
            std::fs::read_to_string(&marker).unwrap(),
            "up\ndown\nreclaim\n"
        );
    }
}

#[test]
fn a_cloned_interpreter_runs_a_procedure_in_a_worker_thread() {
    let (cfg, marker) = with_real_script("lukretia.tcl", "thread");
    let loaded = load_file(&cfg).unwrap();
    let mut worker = loaded.interp.clone();
    let h = std::thread::spawn(move || worker.call_proc("startservice", &[]));
    assert_eq!(h.join().unwrap().unwrap(), "UP");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "up\n");
    fn assert_send_clone<T: Send + Clone + 'static>() {}
    assert_send_clone::<Interp>();
}

#[test]
fn missing_or_undefined_procedures_are_reported_by_check() {
    let text =
        "failsvc S create\nfailsvc S start nosuchproc\nfailsvc S slaves b\nfailhost ghost port 1\n";
    let loaded = load_str(text, "x.tcl").unwrap();
    assert_eq!(
        validate(&loaded),
        vec![
            "x.tcl:2: service \"S\": start procedure \"nosuchproc\" is not defined".to_string(),
            "x.tcl:1: service \"S\" has no stop procedure (failsvc S stop procName)".to_string(),
        ]
    );
}

#[test]
fn fractional_intervals_timeouts_and_misses() {
    let text = "proc up {} {return UP}\nproc down {} {return FAIL}\nfailsvc S create\nfailsvc S interval 0.02\nfailsvc S timeout 0.015\nfailsvc S misses 3\nfailsvc S start up\nfailsvc S stop down\nfailsvc S masters {a b}\nfailhost a protocol udp\nfailhost a address 198.18.0.1\nproc trap {s o n} {}\nfailtrap S trap\nfailsvc S check up\n";
    let loaded = load_str(text, "x.tcl").unwrap();
    let s = &loaded.config.services["S"];
    assert_eq!(s.interval_ms, 20);
    assert_eq!(s.timeout_ms, Some(15));
    assert_eq!(s.misses, Some(3));
    assert_eq!(s.masters, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(s.trap.as_deref(), Some("trap"));
    assert_eq!(s.check.as_deref(), Some("up"));
    assert_eq!(loaded.config.hosts["a"].protocol, Protocol::Udp);
    assert_eq!(
        loaded.config.hosts["a"].address.as_deref(),
        Some("198.18.0.1")
    );
    assert_eq!(loaded.config.hosts["b"], HostDef::new("b"));
    assert!(validate(&loaded).is_empty());
}
