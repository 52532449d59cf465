//! `distill`: train a teacher, distill a student on real data, validate kernels against the CPU
//! reference and benchmark the adapter.

use std::process::ExitCode;

use clap::Parser;

use distill_wgpu::gpu::{default_cache_dir, MatmulTuning};
use distill_wgpu::{ContextOptions, Error, GpuContext, MatmulFamily, Result};

use cli::{Cli, Command};
use flags::GpuFlags;

mod analysis_pages;
mod cli;
mod commands;
mod environment;
mod flags;
mod jobs;
mod lock;
mod objective_flags;
mod output;
mod pages;
mod report;
mod teachers;
mod training;
mod values;

/// Pipeline defaults. The teacher recipe is the one that produced the bundled teacher
/// (`models/teacher-mnist10k.safetensors`): training it live takes about half an hour on a
/// 2-core CPU with lavapipe, so `run` loads the bundled file unless told otherwise. The
/// students' defaults finish in a few minutes there.
mod defaults {
    pub const TEACHER_HIDDEN: &[usize] = &[1200, 1200];
    pub const TEACHER_EPOCHS: usize = 60;
    pub const TEACHER_DROPOUT: f32 = 0.5;
    pub const TEACHER_JITTER: u32 = 2;
    pub const STUDENT_HIDDEN: &[usize] = &[300, 300];
    pub const EPOCHS: usize = 20;
    pub const BATCH: usize = 128;
    pub const LR: f32 = 1e-3;
    pub const TEMPERATURE: f32 = 20.0;
    pub const ALPHA: f32 = 0.9;
    pub const SEED: u64 = 1;
    pub const VAL_FRACTION: f64 = 0.1;
}

fn main() -> ExitCode {
    environment::ensure_runtime_dir();
    // 16 SIMD lanes for llvmpipe on AVX-512 hosts, before any thread or driver starts.
    distill_wgpu::gpu::request_wide_cpu_vectors();
    let cli = Cli::parse();
    let result = dispatch(cli);
    if let Err(e) = &result {
        match e {
            Error::Interrupted { .. } => eprintln!("{e}"),
            _ => eprintln!("error: {e}"),
        }
        if let Some(hint) = hint(e) {
            eprintln!("hint: {hint}");
        }
    }
    match result {
        Ok(code) => code,
        Err(Error::Interrupted { .. }) => ExitCode::from(130),
        Err(_) => ExitCode::FAILURE,
    }
}

/// The flags that answer a library error worded without them.
fn hint(e: &Error) -> Option<&'static str> {
    match e {
        Error::OutputExists { .. } => {
            Some("pass --force to overwrite them, or --resume to continue that run")
        }
        Error::Interrupted { .. } => Some("run the same command with --resume to continue"),
        Error::NonFiniteTraining { .. } => Some("a lower --lr may keep it finite"),
        Error::InputIsOutput { .. } => Some("choose another --out"),
        _ => None,
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command.unwrap_or(Command::Run(cli.run)) {
        Command::Adapters => {
            let adapters = distill_wgpu::list_adapters();
            if adapters.is_empty() {
                return Err(Error::NoAdapter);
            }
            for info in adapters {
                println!(
                    "{}; subgroup size {}",
                    distill_wgpu::describe_adapter(&info),
                    subgroup_size(&info)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate(args) => commands::validate::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Run(args) => {
            training::catch_interrupts();
            commands::run::run(&args)
        }
        Command::Train(args) => {
            training::catch_interrupts();
            commands::train::run(&args)
        }
        Command::Distill(args) => {
            training::catch_interrupts();
            commands::distill::run(&args)
        }
        Command::Mutual(args) => {
            training::catch_interrupts();
            commands::mutual::run(&args)
        }
        Command::Calibrate(args) => commands::calibrate::run(&args),
        Command::Diagnose(args) => commands::diagnose::run(&args),
        Command::Sweep(args) => {
            training::catch_interrupts();
            commands::sweep::run(&args)
        }
        Command::Experiment(args) => commands::experiment::run(&args),
        Command::Eval(args) => commands::eval::run(&args),
        Command::MakeData(args) => commands::regression::make_data(&args),
    }
}

/// Opens the adapter the flags name, and says which (on stderr, unless the command prints
/// JSON).
fn open_context(gpu: &GpuFlags, json: bool) -> Result<GpuContext> {
    let ctx = GpuContext::new(&ContextOptions {
        adapter_name: gpu.adapter.clone(),
        backends: values::Backend::union(&gpu.backend),
        matmul_tuning: MatmulTuning::Measure {
            cache_dir: default_cache_dir(),
            retune: gpu.retune,
        },
        subgroups: !gpu.no_subgroups,
        ..ContextOptions::default()
    })?;
    if !json {
        eprintln!("adapter: {}", ctx.describe());
        eprintln!("matmul: {}", matmul_setup(&ctx));
    }
    Ok(ctx)
}

/// The subgroup size an adapter reports: one number, or a range.
fn subgroup_size(info: &wgpu::AdapterInfo) -> String {
    if info.subgroup_min_size == info.subgroup_max_size {
        info.subgroup_min_size.to_string()
    } else {
        format!("{}..{}", info.subgroup_min_size, info.subgroup_max_size)
    }
}

/// The matmul family, lanes and tuning a context runs with, in one line.
pub fn matmul_setup(ctx: &GpuContext) -> String {
    let family = match (ctx.matmul_family(), ctx.subgroup_lanes()) {
        (MatmulFamily::Unrolled, Some(lanes)) => format!("subgroup family, {lanes} lanes"),
        (MatmulFamily::Unrolled, None) => "unrolled family (no subgroups), 8 lanes".to_string(),
        (MatmulFamily::Tiled, _) => "tiled family".to_string(),
    };
    let tuning = match ctx.matmul_tuning() {
        MatmulTuning::CostModel => "chosen by the cost model".to_string(),
        MatmulTuning::Measure {
            cache_dir: Some(dir),
            retune,
        } => format!(
            "blocks {} by measurement, cached in {}",
            if *retune { "re-chosen" } else { "chosen" },
            distill_wgpu::ops::matmul::tune::cache_path(dir).display()
        ),
        MatmulTuning::Measure {
            cache_dir: None, ..
        } => "blocks chosen by measurement (no cache folder)".to_string(),
    };
    format!("{family}; {tuning}")
}
