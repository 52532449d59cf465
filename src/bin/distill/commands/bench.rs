//! `distill bench`: kernel and KD-step throughput on this adapter, or saved reports side by
//! side (`--compare`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use distill_wgpu::bench::compare::{Comparison, SavedBench};
use distill_wgpu::bench::profile::profile_kd_step;
use distill_wgpu::bench::scaling::{bench_scaling, scaling_points};
use distill_wgpu::bench::{bench_kd_step, bench_kernels, KdStepWorkload};
use distill_wgpu::files::write_atomic;
use distill_wgpu::{Error, Result, SplitMix64};

use crate::flags::GpuFlags;
use crate::open_context;
use crate::report::{to_json, today, AdapterReport, BenchReport};
use crate::values;

/// `distill bench` flags.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Fewer shapes and repetitions (and no scaling sweep).
    #[arg(long)]
    quick: bool,
    /// Only the scaling sweep: the KD step across batch 32…1024 (784-800-800-10) and hidden
    /// width 100…2000 (batch 128), in samples/s and GFLOP/s. The full bench includes it.
    #[arg(long, conflicts_with_all = ["quick", "compare"])]
    scaling: bool,
    /// Instead of benchmarking, print saved `bench --json` reports side by side, with ratios
    /// to the first.
    #[arg(long, num_args = 1.., value_name = "REPORT.json")]
    compare: Vec<PathBuf>,
    /// With --compare: also write the table as Markdown to this file (an existing file only
    /// with --force).
    #[arg(long, requires = "compare", value_name = "FILE.md")]
    markdown: Option<PathBuf>,
    /// Overwrite an existing --markdown file.
    #[arg(long, requires = "markdown")]
    force: bool,
    /// The adapter's FP32 peak in GFLOP/s (from its data sheet): each matmul is also reported
    /// as a share of it.
    #[arg(long, value_name = "GFLOPS", allow_hyphen_values = true, value_parser = values::positive)]
    peak_gflops: Option<f32>,
    /// Seed of the benchmarks' random inputs.
    #[arg(long, allow_hyphen_values = true)]
    seed: Option<u64>,
    /// Machine-readable JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    gpu: GpuFlags,
}

/// Benchmarks this adapter, or compares saved reports.
pub fn run(args: &BenchArgs) -> Result<ExitCode> {
    if !args.compare.is_empty() {
        return compare(args);
    }
    let quick = args.quick;
    let ctx = open_context(&args.gpu, args.json)?;
    let mut rng = SplitMix64::new(args.seed.unwrap_or(1));
    let say = |line: String| {
        if !args.json {
            println!("{line}");
        }
    };
    let (kernels, kd_step, step_profile) = if args.scaling {
        (Vec::new(), Vec::new(), Vec::new())
    } else {
        let mut kernels = bench_kernels(&ctx, &mut rng, quick, say)?;
        if let Some(peak) = args.peak_gflops {
            for row in &mut kernels {
                if let Some(gflops) = row.gflops {
                    row.peak_share = Some(gflops / f64::from(peak));
                    say(format!(
                        "{:<16} {:<6} {:<22} {:>6.1} % of {peak} GFLOP/s",
                        row.kernel,
                        row.product.as_deref().unwrap_or(""),
                        row.variant,
                        100.0 * gflops / f64::from(peak)
                    ));
                }
            }
        }
        let kd_step = bench_kd_step(&ctx, &mut rng, quick, say)?;
        let workload = KdStepWorkload::new(&ctx, &mut rng, 1024)?;
        let repeats = if quick { 4 } else { 10 };
        let profile = profile_kd_step(&ctx, &workload, 128, repeats, say)?;
        (kernels, kd_step, profile)
    };
    if !args.json {
        for (product, choice) in ctx.matmul_choices() {
            let how = if choice.measured_here {
                "measured now"
            } else {
                "cached"
            };
            println!("matmul choice {product:<32} {:<22} ({how})", choice.variant);
        }
    }
    let scaling = if quick {
        Vec::new()
    } else {
        let workload = KdStepWorkload::new(&ctx, &mut rng, 2048)?;
        bench_scaling(&ctx, &workload, &scaling_points(), say)?
    };
    if args.json {
        let report = BenchReport {
            schema: "distill-wgpu-bench/1",
            date: today(),
            crate_version: env!("CARGO_PKG_VERSION"),
            adapter: AdapterReport::new(&ctx),
            kernels,
            kd_step,
            step_profile,
            scaling,
        };
        println!("{}", to_json(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the saved reports side by side and writes the Markdown table when asked.
fn compare(args: &BenchArgs) -> Result<ExitCode> {
    if let Some(path) = &args.markdown {
        if path.exists() && !args.force {
            return Err(Error::InvalidConfig(format!(
                "{} already exists; pass --force to overwrite it",
                path.display()
            )));
        }
    }
    let reports = args
        .compare
        .iter()
        .map(|path| SavedBench::read(path))
        .collect::<Result<Vec<_>>>()?;
    let table = Comparison::new(reports)?;
    print!("{}", table.to_text());
    if let Some(path) = &args.markdown {
        write_atomic(path, table.to_markdown().as_bytes())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
