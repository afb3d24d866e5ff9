//! What `./course lab` starts: JupyterLab on 127.0.0.1 only, with Jupyter's token
//! authentication left on, serving the course's notebooks. `./course lab-command` prints the
//! command line `./course lab` runs (without running the set-up).

use std::path::PathBuf;
use std::process::Command;

fn lab_arguments() -> Vec<String> {
    // The clone under test, as cargo names it at run time (the compiled-in path can be another
    // clone's: they share one build cache).
    let root = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let out = Command::new("bash").arg(root.join("course")).arg("lab-command").output().expect("bash runs ./course");
    assert!(out.status.success(), "./course lab-command failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

#[test]
fn the_lab_listens_on_localhost_only() {
    let args = lab_arguments();
    assert!(args[0].ends_with("/bin/jupyter") && args[1] == "lab", "{args:?}");
    let ips: Vec<&String> = args.iter().filter(|a| a.contains(".ip=")).collect();
    assert_eq!(ips, ["--ServerApp.ip=127.0.0.1"], "{args:?}");
    assert!(!args.iter().any(|a| a.contains("0.0.0.0") || a.contains("allow_remote")), "{args:?}");
}

#[test]
fn the_lab_keeps_token_authentication() {
    let args = lab_arguments();
    // Any of these would turn authentication off or replace the random token.
    for forbidden in ["token", "password", "disable_check_xsrf", "IdentityProvider"] {
        assert!(!args.iter().any(|a| a.to_lowercase().contains(&forbidden.to_lowercase())), "`{forbidden}` in {args:?}");
    }
    assert!(args.iter().any(|a| a == "--no-browser"), "{args:?}");
}

#[test]
fn the_lab_serves_the_notebooks_folder() {
    let args = lab_arguments();
    let root = args.iter().find_map(|a| a.strip_prefix("--ServerApp.root_dir=")).expect("a root_dir");
    assert!(PathBuf::from(root).join("00-introduction.ipynb").is_file(), "{root}");
}
