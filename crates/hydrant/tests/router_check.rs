//! `hydrant router --check` on the real binary: the seed's ConfigMap passes with a
//! summary; a ConfigMap breaking Fargate's rules fails naming the file, line and rule.

use std::process::Command;

fn router(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hydrant")).arg("router").args(args).output().expect("running hydrant")
}

#[test]
fn the_seed_configmap_checks_out() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../hydrant-flb/tests/fixtures/seed-configmap.yaml");
    let out = router(&["--config", seed, "--check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("kubernetes"), "{stdout}");
    assert!(stdout.contains("kinesis_firehose"), "{stdout}");
}

#[test]
fn fargate_rules_are_enforced_with_locations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aws-logging.yaml");
    // `grep` is allowed on Fargate, `exec` is not a filter Fargate allows.
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-logging\n  namespace: aws-observability\ndata:\n  \
         filters.conf: |\n    [FILTER]\n        Name exec\n        Match *\n  output.conf: |\n    [OUTPUT]\n        \
         Name kinesis_firehose\n        Match *\n        region us-east-1\n        delivery_stream s\n",
    )
    .unwrap();
    let out = router(&["--config", path.to_str().unwrap(), "--check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("filters.conf:2"), "{stderr}");
    assert!(stderr.contains("exec"), "{stderr}");
}
