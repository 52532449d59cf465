//! The `distill` command line's flags: each subcommand takes exactly the flags it uses, choice
//! values are typed and a bad one's error lists the choices, negative numbers reach the value
//! checks (and are refused by name), and the default pipeline takes its flags without a
//! subcommand. None of this needs a GPU: clap refuses before anything runs.

mod common;

use common::cli::{assert_clean_failure, distill, stderr, temp_dir};

#[test]
fn a_flag_a_subcommand_does_not_use_is_refused_by_name() {
    let cases: [(&[&str], &str); 12] = [
        (&["adapters", "--lr", "5"], "--lr"),
        (&["validate", "--epochs", "3"], "--epochs"),
        (
            &["eval", "--model", "x", "--temperature", "4"],
            "--temperature",
        ),
        (&["bench", "--teacher", "t"], "--teacher"),
        (&["bench", "--data", "d"], "--data"),
        (&["train", "--alpha", "0.5"], "--alpha"),
        (&["train", "--teacher", "t"], "--teacher"),
        (&["calibrate", "--model", "m", "--resume"], "--resume"),
        (&["diagnose", "--teacher", "t", "--epochs", "2"], "--epochs"),
        (&["experiment", "dkd", "--resume"], "--resume"),
        (&["mutual", "--val-fraction", "0.2"], "--val-fraction"),
        (&["sweep", "--json"], "--json"),
    ];
    for (args, flag) in cases {
        let out = distill(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_clean_failure(&out, &format!("unexpected argument '{flag}'"));
    }
    // The pipeline's flags belong after a subcommand's name.
    assert_clean_failure(
        &distill(&["--seed", "2", "train"]),
        "the subcommand 'train' cannot be used with '--seed",
    );
}

#[test]
fn a_bad_choice_lists_every_choice() {
    let cases: [(&[&str], &str); 6] = [
        (&["--combine", "foo"], "expected one of mixture, logits"),
        (
            &["validate", "--backend", "foo"],
            "expected one of vulkan, gl, metal, dx12, webgpu",
        ),
        (
            &["distill", "--teacher", "t", "--teacher-weights", "foo"],
            "expected one of uniform, accuracy, confidence, route, or one weight",
        ),
        (
            &["distill", "--teacher", "t", "--loss", "foo"],
            "expected one of kd, dkd",
        ),
        (
            &["run", "--kd-disagreement", "foo"],
            "expected one of keep, drop",
        ),
        (&["experiment", "nope"], "no experiment \"nope\"; there are"),
    ];
    for (args, needle) in cases {
        let out = distill(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_clean_failure(&out, needle);
    }
    // A list of backends is parsed value by value, aliases included.
    assert_clean_failure(
        &distill(&["validate", "--backend", "vk,glide"]),
        "unknown backend \"glide\"",
    );
    // `--help` shows the choices too.
    let help = distill(&["run", "--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for needle in [
        "mixture", "logits", "vulkan", "dx12", "webgpu", "keep", "drop",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(text.contains("uniform (default), accuracy"), "{text}");
}

#[test]
fn negative_and_out_of_range_numbers_are_refused_by_name() {
    let cases: [(&[&str], &str); 10] = [
        (
            &["train", "--val-fraction", "-0.1"],
            "invalid value '-0.1' for '--val-fraction",
        ),
        (&["train", "--val-fraction", "1"], "must lie in (0, 1)"),
        (
            &["train", "--epochs", "-3"],
            "invalid value '-3' for '--epochs",
        ),
        (&["train", "--epochs", "0"], "must be at least 1"),
        (
            &["train", "--lr", "-1e-3"],
            "invalid value '-1e-3' for '--lr",
        ),
        (
            &["run", "--temperature", "-2"],
            "'--temperature <T>': must be finite and > 0",
        ),
        (
            &["run", "--alpha", "-0.5"],
            "'--alpha <ALPHA>': must lie in [0, 1]",
        ),
        (&["run", "--hidden", "8,0"], "has a zero width"),
        (
            &["sweep", "--temperature", "-1,2"],
            "invalid value '-1' for '--temperature",
        ),
        (
            &["calibrate", "--model", "m", "--val-fraction", "-0.5"],
            "invalid value '-0.5' for '--val-fraction",
        ),
    ];
    for (args, needle) in cases {
        let out = distill(args);
        assert!(
            !stderr(&out).contains("unexpected argument"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_clean_failure(&out, needle);
    }
    // One value where a command takes one; a list only for `sweep`, `;` only for sweep and
    // mutual.
    assert_clean_failure(
        &distill(&["distill", "--teacher", "t", "--alpha", "0.1,0.2"]),
        "takes one value here",
    );
    assert_clean_failure(
        &distill(&["train", "--hidden", "8;8"]),
        "takes one architecture here",
    );
    assert_clean_failure(&distill(&["train", "--num-classes", "0"]), "--num-classes");
}

#[test]
fn the_default_pipeline_takes_its_flags_without_a_subcommand() {
    let dir = temp_dir("default-flags");
    let missing = dir.join("no-such-data");
    let missing = missing.to_str().unwrap();
    // The flags parse; the run stops at the data, which is not there.
    for args in [
        &["--seed", "2", "--data", missing][..],
        &[
            "--hidden", "800,800", "--epochs", "10", "--seed", "3", "--data", missing,
        ],
        &[
            "run",
            "--hidden",
            "800,800",
            "--num-classes",
            "10",
            "--data",
            missing,
        ],
    ] {
        let out = distill(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_clean_failure(&out, "no-such-data");
    }
}
