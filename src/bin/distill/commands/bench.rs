//! `distill bench`: kernel and KD-step throughput on this adapter.

use std::process::ExitCode;

use distill_wgpu::bench::{bench_kd_step, bench_kernels};
use distill_wgpu::{Result, SplitMix64};

use crate::report::{to_json, today, AdapterReport, BenchReport};
use crate::{open_context, Common};

pub fn run(common: &Common, quick: bool) -> Result<ExitCode> {
    let ctx = open_context(common)?;
    let mut rng = SplitMix64::new(common.seed.unwrap_or(1));
    let say = |line: String| {
        if !common.json {
            println!("{line}");
        }
    };
    let kernels = bench_kernels(&ctx, &mut rng, quick, say)?;
    let kd_step = bench_kd_step(&ctx, &mut rng, quick, say)?;
    if common.json {
        let report = BenchReport {
            schema: "distill-wgpu-bench/1",
            date: today(),
            crate_version: env!("CARGO_PKG_VERSION"),
            adapter: AdapterReport::new(&ctx),
            kernels,
            kd_step,
        };
        println!("{}", to_json(&report));
    }
    Ok(ExitCode::SUCCESS)
}
