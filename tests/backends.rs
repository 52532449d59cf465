//! Both backends a GPU-less Linux machine has: the validation suite passes on the GL adapter
//! (Mesa llvmpipe) as it does on Vulkan (lavapipe), chosen with `--backend`; saved bench
//! reports compare side by side (`bench --compare`, `--markdown`).

mod common;

use common::cli::{assert_clean_failure, distill, stderr, temp_dir};

/// `validate --quick --backend gl` passes every check on a GL adapter. With no GL adapter it
/// fails, unless GPU tests are skipped explicitly (`DISTILL_WGPU_SKIP_GPU_TESTS=1`).
#[test]
fn validate_passes_on_the_gl_backend() {
    if std::env::var_os(common::SKIP_ENV).is_some_and(|v| v == "1") {
        eprintln!("skipped: {}=1", common::SKIP_ENV);
        return;
    }
    let out = distill(&["validate", "--quick", "--json", "--backend", "gl"]);
    assert!(
        out.status.success(),
        "validate on GL failed (no GL adapter? Mesa's llvmpipe comes with libgl1-mesa-dri \
         and libegl1): {}",
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["adapter"]["backend"], "Gl", "{}", report["adapter"]);
    let checks = report["checks"].as_u64().unwrap();
    assert!(checks > 500, "only {checks} checks");
}

#[test]
fn an_unknown_backend_is_refused_by_name() {
    assert_clean_failure(
        &distill(&["validate", "--quick", "--backend", "glide"]),
        "unknown backend \"glide\"; expected one of vulkan, gl, metal, dx12, webgpu",
    );
}

/// A bench report as `distill bench --json` writes it, with one matmul and one KD step.
fn report(adapter: &str, backend: &str, gflops: f64, samples: f64) -> String {
    serde_json::json!({
        "schema": "distill-wgpu-bench/1",
        "date": "2026-11-28",
        "crate_version": "0.1.0",
        "adapter": {
            "name": adapter, "vendor": 0, "device": 0, "backend": backend,
            "device_type": "Cpu", "driver": "llvmpipe", "driver_info": "Mesa 22.3.6",
            "matmul_family": "Unrolled", "limits": {}
        },
        "kernels": [{
            "kernel": "matmul", "product": "X·Wᵀ", "shape": [128, 800, 784],
            "variant": "unrolled", "seconds": 0.01, "gflops": gflops
        }],
        "kd_step": [{
            "objective": "kd", "student": [784, 800, 800, 10], "batch": 128,
            "teacher": "cached", "seconds_per_step": 0.1, "samples_per_second": samples,
            "dispatches_per_step": 30, "submits_per_step": 1
        }]
    })
    .to_string()
}

#[test]
fn bench_compare_prints_one_table_and_writes_markdown_once() {
    let dir = temp_dir("bench-compare");
    let a = dir.join("vulkan.json");
    let b = dir.join("gl.json");
    std::fs::write(&a, report("llvmpipe", "Vulkan", 10.0, 880.0)).unwrap();
    std::fs::write(&b, report("llvmpipe", "Gl", 4.0, 440.0)).unwrap();
    let md = dir.join("compare.md");
    let (a, b, md_arg) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        md.to_str().unwrap(),
    );

    let out = distill(&["bench", "--compare", a, b, "--markdown", md_arg]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "#1 llvmpipe (Vulkan, 2026-11-28)",
        "#2 llvmpipe (Gl, 2026-11-28)",
        "matmul X·Wᵀ 128×800×784",
        "4.00 (0.40×)",
        "step kd 784-800-800-10 b128 cached",
        "440 (0.50×)",
        "driver llvmpipe Mesa 22.3.6",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let markdown = std::fs::read_to_string(&md).unwrap();
    assert!(
        markdown.contains("| matmul X·Wᵀ 128×800×784 | GFLOP/s | 10.0 (1.00×) | 4.00 (0.40×) |"),
        "{markdown}"
    );

    // The Markdown file is not overwritten without --force, and is with it.
    std::fs::write(&md, "mine").unwrap();
    assert_clean_failure(
        &distill(&["bench", "--compare", a, b, "--markdown", md_arg]),
        "already exists",
    );
    assert_eq!(std::fs::read_to_string(&md).unwrap(), "mine");
    let out = distill(&["bench", "--compare", a, b, "--markdown", md_arg, "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&md).unwrap().starts_with("| "));

    // A file that is not a bench report is named.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"schema\": \"distill-wgpu-run/1\"}").unwrap();
    assert_clean_failure(
        &distill(&["bench", "--compare", a, bad.to_str().unwrap()]),
        "bad.json",
    );
    assert_clean_failure(
        &distill(&[
            "bench",
            "--compare",
            dir.join("missing.json").to_str().unwrap(),
        ]),
        "missing.json",
    );
}
