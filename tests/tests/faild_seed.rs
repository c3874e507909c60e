//! The seed's faild start script and service script (examples/seed/) register their services
//! with the options exactly as the seed writes them, against the real faild and failc.
//!
//! The scripts run under /bin/sh with a private installation prefix (AFMFAIL) whose bin/failc
//! logs its arguments and then runs the real failc, whose sbin/faild is the real faild, and
//! whose sbin/grarp only logs; ifconfig is a logging stand-in (IFCONFIG), and `hostname` a
//! stand-in on PATH that answers lukretia. Nothing touches a real interface.

use failover_tests::faild::{describe, runtimes};
use failover_tests::{
    command, free_port, program, run_with_limit, text, wait_until, PidGuard, TempDir,
};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn seed_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/seed")
        .join(name)
}

fn write_executable(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

struct Install {
    dir: TempDir,
    port: u16,
}

impl Install {
    fn new(runtime: &str) -> Install {
        let dir = TempDir::new("seed");
        for sub in ["bin", "sbin", "etc", "var", "shim"] {
            fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let log = dir.join("calls.log");
        write_executable(
            &dir.join("bin/failc"),
            &format!(
                "#!/bin/sh\necho \"failc $*\" >> '{}'\nexec '{}' --runtime {runtime} \"$@\"\n",
                log.display(),
                program("failc").display()
            ),
        );
        write_executable(
            &dir.join("sbin/faild"),
            &format!(
                "#!/bin/sh\nexec '{}' --runtime {runtime} \"$@\"\n",
                program("faild").display()
            ),
        );
        for (path, name) in [("sbin/grarp", "grarp"), ("shim/ifconfig", "ifconfig")] {
            write_executable(
                &dir.join(path),
                &format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n", log.display()),
            );
        }
        write_executable(&dir.join("shim/hostname"), "#!/bin/sh\necho lukretia\n");
        fs::copy(seed_script("communityfile"), dir.join("etc/communityfile")).unwrap();
        Install {
            dir,
            port: free_port(),
        }
    }

    fn run(&self, script: &str, argument: &str) -> std::process::Output {
        let path = std::env::var("PATH").unwrap_or_default();
        let mut cmd = Command::new("/bin/sh");
        cmd.arg(seed_script(script))
            .arg(argument)
            .env("AFMFAIL", self.dir.path())
            .env("IFCONFIG", self.dir.join("shim/ifconfig"))
            .env(
                "PATH",
                format!("{}:{path}", self.dir.join("shim").display()),
            )
            .env("FAILD_STATEFILE", self.dir.join("var/faild.state"))
            .env("port", self.port.to_string());
        run_with_limit(&mut cmd, Duration::from_secs(20))
    }

    fn calls(&self) -> String {
        fs::read_to_string(self.dir.join("calls.log")).unwrap_or_default()
    }

    fn status(&self) -> String {
        let mut cmd = command("failstat");
        cmd.args(["-p", &self.port.to_string(), "198.18.0.50"]);
        let out = run_with_limit(&mut cmd, Duration::from_secs(10));
        text(&out.stdout)
    }

    fn faild_pid(&self) -> Option<u32> {
        fs::read_to_string(self.dir.join("var/faild.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

#[test]
fn the_seed_scripts_register_their_services_as_the_seed_writes_them() {
    for runtime in runtimes() {
        let install = Install::new(runtime);
        let out = install.run("faild.init", "start");
        let _faild = PidGuard(install.faild_pid().unwrap_or(0));
        assert_eq!(out.status.code(), Some(0), "{runtime}: {}", describe(&out));
        assert!(text(&out.stdout).contains("adding service 198.18.0.50"));
        let port = install.port;
        assert!(
            install.calls().contains(&format!(
                "failc -c public -T -p {port} -s FAIL -b macbeth 198.18.0.50\n"
            )),
            "{}",
            install.calls()
        );
        assert!(
            install.status().starts_with("198.18.0.50 FAIL macbeth "),
            "{}",
            install.status()
        );

        let out = install.run("198.18.0.50", "start");
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let calls = install.calls();
        assert!(calls.contains("ifconfig hme0:1 plumb\n"), "{calls}");
        assert!(
            calls.contains("ifconfig hme0:1 inet 198.18.0.50 netmask 255.255.255.0 broadcast 198.18.0.255 down\n"),
            "{calls}"
        );
        assert!(
            calls.contains(&format!(
                "failc -c public -T -p {port} -sRECOVER 198.18.0.50\n"
            )),
            "{calls}"
        );
        assert!(
            install.status().starts_with("198.18.0.50 RECOVER macbeth "),
            "{}",
            install.status()
        );

        install.run("198.18.0.50", "fail");
        assert!(install.calls().contains(&format!(
            "failc -c public -T -p {port} -sFAIL 198.18.0.50\n"
        )));
        assert!(
            install.status().starts_with("198.18.0.50 FAIL macbeth "),
            "{}",
            install.status()
        );
        install.run("198.18.0.50", "recover");
        assert!(
            install.status().starts_with("198.18.0.50 RECOVER macbeth "),
            "{}",
            install.status()
        );
        install.run("198.18.0.50", "up");
        assert!(
            install.calls().contains("grarp hme0 198.18.0.50\n"),
            "{}",
            install.calls()
        );
        assert!(install.calls().contains("ifconfig hme0:1 up\n"));

        let pid = install.faild_pid().expect("faild wrote its pid file");
        let out = install.run("faild.init", "stop");
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        assert!(
            wait_until(Duration::from_secs(5), || !Path::new(&format!(
                "/proc/{pid}"
            ))
            .exists()
                || fs::read_to_string(format!("/proc/{pid}/status"))
                    .is_ok_and(|s| s.contains("State:\tZ"))),
            "faild {pid} did not stop"
        );
    }
}
