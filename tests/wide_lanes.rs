//! Llvmpipe at both vector widths: `distill validate` passes with 8 SIMD lanes
//! (`LP_NATIVE_VECTOR_WIDTH=256`) and, on hosts with AVX-512, with the 16 lanes the binary asks
//! for by default, each kernel family at the subgroup size the adapter reports.

mod common;

use common::cli::stderr;
use std::process::Command;

/// `validate --quick --json` on lavapipe with `LP_NATIVE_VECTOR_WIDTH` set to `width` (or
/// left to the binary when `None`): its report.
fn validate_at(width: Option<&str>) -> serde_json::Value {
    let mut command = Command::new(env!("CARGO_BIN_EXE_distill"));
    command.args(["validate", "--quick", "--json", "--backend", "vulkan"]);
    command.env_remove("LP_NATIVE_VECTOR_WIDTH");
    if let Some(width) = width {
        command.env("LP_NATIVE_VECTOR_WIDTH", width);
    }
    let out = command.output().expect("failed to start distill");
    assert!(out.status.success(), "validate failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn is_llvmpipe(report: &serde_json::Value) -> bool {
    report["adapter"]["name"]
        .as_str()
        .is_some_and(|n| n.contains("llvmpipe"))
}

#[test]
fn validate_passes_at_eight_and_sixteen_lanes() {
    if std::env::var_os(common::SKIP_ENV).is_some_and(|v| v == "1") {
        eprintln!("skipped: {}=1", common::SKIP_ENV);
        return;
    }
    let narrow = validate_at(Some("256"));
    assert_eq!(narrow["passed"], true);
    if !is_llvmpipe(&narrow) {
        eprintln!(
            "skipped the lane widths: the adapter is {}, not llvmpipe",
            narrow["adapter"]["name"]
        );
        return;
    }
    assert_eq!(
        narrow["adapter"]["subgroup_lanes"], 8,
        "{}",
        narrow["adapter"]
    );
    let narrow_kernels = narrow["kernels"].as_array().unwrap();
    assert!(
        narrow_kernels
            .iter()
            .any(|k| k["kernel"].as_str().unwrap().contains("shuffle8-")),
        "no subgroup kernel validated at 8 lanes"
    );

    let avx512 = {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    };
    let wide = validate_at(None);
    assert_eq!(wide["passed"], true);
    if !avx512 {
        eprintln!("skipped 16 lanes: this host has no AVX-512");
        assert_eq!(wide["adapter"]["subgroup_lanes"], 8);
        return;
    }
    assert_eq!(wide["adapter"]["subgroup_lanes"], 16, "{}", wide["adapter"]);
    assert!(wide["adapter"]["name"]
        .as_str()
        .unwrap()
        .contains("512 bits"));
    let kernels = wide["kernels"].as_array().unwrap();
    assert!(kernels
        .iter()
        .any(|k| k["kernel"].as_str().unwrap().contains("shuffle16-")));
    // Every kernel the narrow run checked was checked at 16 lanes too (the matmul names carry
    // their lane count, the rest are the same kernels).
    let names = |ks: &[serde_json::Value]| -> Vec<String> {
        ks.iter()
            .map(|k| {
                k["kernel"]
                    .as_str()
                    .unwrap()
                    .replace("shuffle16-", "shuffle8-")
            })
            .collect()
    };
    assert_eq!(names(narrow_kernels), names(kernels));
}
