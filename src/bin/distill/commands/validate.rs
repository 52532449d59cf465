//! `distill validate`: every kernel and variant against the CPU reference on this adapter.

use std::process::ExitCode;
use std::time::Instant;

use distill_wgpu::validate::{run_suite, summarize};
use distill_wgpu::Result;

use crate::cli::ValidateArgs;
use crate::open_context;
use crate::report::{to_json, today, AdapterReport, ValidateReport};

/// Runs every check and prints (or, with --json, reports) the results.
pub fn run(args: &ValidateArgs) -> Result<ExitCode> {
    let ctx = open_context(&args.gpu, args.json)?;
    let start = Instant::now();
    let results = run_suite(&ctx, args.quick)?;
    let kernels = summarize(&results);
    let all_passed = kernels.iter().all(|k| k.passed);
    if args.json {
        let report = ValidateReport {
            schema: "distill-wgpu-validate/1",
            date: today(),
            crate_version: env!("CARGO_PKG_VERSION"),
            adapter: AdapterReport::new(&ctx),
            passed: all_passed,
            checks: results.len(),
            seconds: start.elapsed().as_secs_f64(),
            kernels,
        };
        println!("{}", to_json(&report));
    } else {
        println!(
            "{:<28} {:>6} {:>11} {:>11} {:>9} {:>9}  result",
            "kernel", "checks", "max abs", "max rel", "atol≤", "rtol≤"
        );
        for k in &kernels {
            println!(
                "{:<28} {:>6} {:>11.3e} {:>11.3e} {:>9.1e} {:>9.1e}  {}",
                k.kernel,
                k.checks,
                k.max_abs_error,
                k.max_rel_error,
                k.atol_max,
                k.rtol_max,
                if k.passed { "pass" } else { "FAIL" }
            );
        }
        for r in results.iter().filter(|r| !r.passed()) {
            println!("{}", r.report());
        }
        println!(
            "{} checks in {:.1} s: {}",
            results.len(),
            start.elapsed().as_secs_f64(),
            if all_passed { "all passed" } else { "FAILURES" }
        );
    }
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
