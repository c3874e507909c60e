//! The seed's configurations (examples/lukretia.tcl, examples/macbeth.tcl),
//! the configuration model and the interpreter API failsh uses (the
//! interpreter's deadlines are tested in the failover-tcl crate).

use std::path::{Path, PathBuf};

use failover_cli::config::{
    check_file, describe, faild_address, load_file, load_str, validate, FaildAddress,
    DEFAULT_INTERVAL_MS,
};
use failover_core::shell::{HostConfig, ProcedureNames, ServiceConfig, ShellConfig};
use failover_core::wire::Protocol;
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
    let loaded = load_file(&example("lukretia.tcl"), "localhost").unwrap();
    // The file gives the core's configuration directly, with every default applied.
    let mut s = ServiceConfig::new("198.18.0.50", 5000);
    s.procedures = ProcedureNames {
        start: "startservice".into(),
        stop: "stopservice".into(),
        reclaim: Some("reclaimservice".into()),
        check: None,
        trap: None,
    };
    s.slaves = vec!["macbeth".into()];
    let mut l = HostConfig::new("localhost");
    l.community = "genesis".into();
    let expected = ShellConfig {
        local_host: "localhost".into(),
        hosts: vec![l, HostConfig::new("macbeth")],
        services: vec![s],
    };
    assert_eq!(loaded.config, expected);
    // Where each line was given is kept beside it, for messages.
    let line = |what: &str| loaded.locations.line("198.18.0.50", what);
    assert_eq!((line("create"), line("slaves")), (Some(22), Some(27)));
    assert!(validate(&loaded).is_empty());
}

#[test]
fn macbeth_loads_with_lukretia_as_master() {
    let loaded = load_file(&example("macbeth.tcl"), "localhost").unwrap();
    let s = loaded.config.service("198.18.0.50").unwrap();
    assert_eq!(s.masters, vec!["lukretia".to_string()]);
    assert!(s.slaves.is_empty());
    let lukretia = loaded.config.host("lukretia").unwrap();
    assert_eq!(lukretia.protocol, Protocol::Tcp);
    assert_eq!(lukretia.port, 1291);
}

#[test]
fn check_file_describes_services_and_masks_communities() {
    let (_, d) = check_file(&example("lukretia.tcl"), "localhost").unwrap();
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
        let mut loaded = load_file(&cfg, "localhost").unwrap();
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
    let loaded = load_file(&cfg, "localhost").unwrap();
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
    let loaded = load_str(text, "x.tcl", "localhost").unwrap();
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
    let loaded = load_str(text, "x.tcl", "localhost").unwrap();
    let s = loaded.config.service("S").unwrap();
    assert_eq!(s.interval_ms, 20);
    assert_eq!(s.timeout_ms, Some(15));
    assert_eq!(s.misses, 3);
    assert_eq!(s.masters, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(s.procedures.trap.as_deref(), Some("trap"));
    assert_eq!(s.procedures.check.as_deref(), Some("up"));
    assert!(s.has_check() && !s.has_reclaim());
    let a = loaded.config.host("a").unwrap();
    assert_eq!(a.protocol, Protocol::Udp);
    // As written; failsh resolves it when it starts.
    assert_eq!(a.configured_address.as_deref(), Some("198.18.0.1"));
    assert_eq!(a.address, None);
    assert_eq!(loaded.config.host("b"), Some(&HostConfig::new("b")));
    assert!(validate(&loaded).is_empty());
}

#[test]
fn defaults_are_applied_when_the_file_is_read_and_the_local_host_is_always_there() {
    let loaded = load_str("failsvc S create\n", "x.tcl", "lukretia").unwrap();
    assert_eq!(
        loaded.config,
        ShellConfig {
            local_host: "lukretia".into(),
            hosts: vec![HostConfig::new("lukretia")],
            services: vec![ServiceConfig::new("S", DEFAULT_INTERVAL_MS)],
        }
    );
    let s = &loaded.config.services[0];
    assert_eq!(
        (
            s.interval_ms,
            s.timeout_ms(),
            s.misses,
            s.procedure_limit_ms
        ),
        (5000, 5000, 1, 30_000)
    );
    let h = &loaded.config.hosts[0];
    assert_eq!(
        (h.protocol, h.port, h.community.as_str()),
        (Protocol::Tcp, 1291, "public")
    );
    assert_eq!(faild_address(h, "lukretia"), FaildAddress::Local);
    // The local host is described only when the file names it; defaults say so.
    let d = describe(&loaded.config, &loaded.locations);
    assert!(!d.contains("host lukretia"), "{d}");
    assert!(d.contains("misses 1 (default), limit 30s (default)"), "{d}");

    let text = "failsvc S create\nfailsvc S misses 1\nfailsvc S limit 30\nfailsvc S slaves macbeth\nfailhost lukretia address 127.0.0.3\n";
    let loaded = load_str(text, "x.tcl", "lukretia").unwrap();
    let d = describe(&loaded.config, &loaded.locations);
    assert!(d.contains("misses 1, limit 30s\n"), "{d}");
    assert!(
        d.contains("host lukretia: address 127.0.0.3, port 1291, protocol tcp, community ***"),
        "{d}"
    );
    assert!(
        d.contains("host macbeth: address (name), port 1291, protocol tcp, community ***"),
        "{d}"
    );
    let host = |name: &str| loaded.config.host(name).unwrap();
    assert_eq!(
        faild_address(host("lukretia"), "lukretia"),
        FaildAddress::Configured("127.0.0.3")
    );
    assert_eq!(
        faild_address(host("macbeth"), "lukretia"),
        FaildAddress::HostName("macbeth")
    );
    // Hosts and services are kept in name order, whatever the order of the file.
    let loaded = load_str(
        "failsvc T create\nfailsvc S create\nfailsvc S slaves {z a}\n",
        "x.tcl",
        "m",
    )
    .unwrap();
    let names = |v: Vec<&String>| v.into_iter().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(loaded.config.services.iter().map(|s| &s.name).collect()),
        ["S", "T"]
    );
    assert_eq!(
        names(loaded.config.hosts.iter().map(|h| &h.name).collect()),
        ["a", "m", "z"]
    );
}
