//! `distill`: train a teacher, distill a student on real data, validate kernels against the CPU
//! reference and benchmark the adapter.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use distill_wgpu::data::{self, DeviceDataset, TrainTest};
use distill_wgpu::kernels::{self, Optimizer};
use distill_wgpu::train::{fit, EpochLog, FitOptions};
use distill_wgpu::{
    io, validate, workloads, ContextOptions, Dropout, Error, GpuContext, KdConfig, Mlp, MlpSpec,
    Result, SplitMix64, Trainer,
};

#[derive(Parser)]
#[command(
    name = "distill",
    version,
    about = "Knowledge distillation on any GPU wgpu reaches (Vulkan, Metal, DX12, GL)",
    long_about = "With no subcommand, runs the full pipeline on the bundled MNIST subset: \
                  teacher, scratch student, distilled student, and a results table."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone, Debug)]
struct Common {
    /// Adapter name (case-insensitive substring); default: WGPU_ADAPTER_NAME or wgpu's choice.
    #[arg(long, global = true)]
    adapter: Option<String>,
    /// Folder with MNIST-layout IDX files (train-images-idx3-ubyte[.gz], …); default: bundled subset.
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Training epochs (students; the teacher has --teacher-epochs in `run`).
    #[arg(long, global = true)]
    epochs: Option<usize>,
    /// Mini-batch size.
    #[arg(long, global = true)]
    batch_size: Option<usize>,
    /// Adam learning rate.
    #[arg(long, global = true)]
    lr: Option<f32>,
    /// Distillation temperature T > 0.
    #[arg(long, global = true)]
    temperature: Option<f32>,
    /// Weight α ∈ [0, 1] of the teacher term.
    #[arg(long, global = true)]
    alpha: Option<f32>,
    /// Hidden layer widths, e.g. 800,800.
    #[arg(long, global = true, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Seed for initialisation, shuffling, dropout and jitter.
    #[arg(long, global = true)]
    seed: Option<u64>,
    /// Output folder for weights and the JSON report.
    #[arg(long, global = true)]
    out: Option<PathBuf>,
    /// No progress bars or per-epoch lines.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Machine-readable JSON on stdout (bench, validate, eval).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Full pipeline (default): teacher, scratch student, distilled student, table.
    Run(RunArgs),
    /// Train a model with cross-entropy (a teacher, or a scratch baseline).
    Train(TrainArgs),
    /// Distill a student from a saved teacher.
    Distill {
        /// Teacher weights (.safetensors).
        #[arg(long)]
        teacher: PathBuf,
    },
    /// Evaluate a saved model on the test set.
    Eval {
        /// Model weights (.safetensors).
        #[arg(long)]
        model: PathBuf,
    },
    /// List the adapters wgpu finds.
    Adapters,
    /// Check every kernel and variant against the CPU reference on this adapter.
    Validate {
        /// Skip the larger MLP-shaped matmuls.
        #[arg(long)]
        quick: bool,
    },
    /// Benchmark kernels and the KD training step on this adapter.
    Bench {
        /// Fewer shapes and repetitions.
        #[arg(long)]
        quick: bool,
    },
}

#[derive(Args, Debug, Default)]
struct RunArgs {
    /// Use this saved teacher instead of the bundled one.
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Train the teacher live (default when --data points elsewhere or no bundled teacher).
    #[arg(long)]
    train_teacher: bool,
    /// Teacher hidden widths.
    #[arg(long, value_delimiter = ',')]
    teacher_hidden: Option<Vec<usize>>,
    /// Teacher epochs.
    #[arg(long)]
    teacher_epochs: Option<usize>,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Dropout on hidden layers (0 disables).
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// Random ±pixels input shift (0 disables).
    #[arg(long, default_value_t = 0)]
    jitter: u32,
}

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
    pub const OUT: &str = "distill-output";
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Rejects nonsensical common flags before any data is read or file written.
fn check_common(common: &Common) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidConfig(m));
    if common.batch_size == Some(0) {
        return bad("--batch-size must be at least 1".into());
    }
    if common.epochs == Some(0) {
        return bad("--epochs must be at least 1".into());
    }
    if let Some(lr) = common.lr {
        if !(lr.is_finite() && lr > 0.0) {
            return bad(format!("--lr must be finite and > 0, got {lr}"));
        }
    }
    if let Some(h) = &common.hidden {
        if h.contains(&0) {
            return bad(format!("--hidden has a zero width: {h:?}"));
        }
    }
    kd_from(common)?;
    Ok(())
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    let common = cli.common;
    check_common(&common)?;
    match cli.command.unwrap_or(Command::Run(RunArgs::default())) {
        Command::Adapters => {
            let adapters = distill_wgpu::list_adapters();
            if adapters.is_empty() {
                return Err(Error::NoAdapter);
            }
            for info in adapters {
                println!("{}", distill_wgpu::describe_adapter(&info));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { quick } => validate_cmd(&common, quick),
        Command::Bench { quick } => bench_cmd(&common, quick),
        Command::Run(args) => run_cmd(&common, &args),
        Command::Train(args) => train_cmd(&common, &args),
        Command::Distill { teacher } => distill_cmd(&common, &teacher),
        Command::Eval { model } => eval_cmd(&common, &model),
    }
}

fn open_context(common: &Common) -> Result<GpuContext> {
    let ctx = GpuContext::new(&ContextOptions {
        adapter_name: common.adapter.clone(),
        ..ContextOptions::default()
    })?;
    if !common.json {
        eprintln!("adapter: {}", ctx.describe());
    }
    Ok(ctx)
}

fn adapter_json(ctx: &GpuContext) -> Value {
    let info = ctx.adapter_info();
    let limits = ctx.limits();
    json!({
        "name": info.name,
        "vendor": info.vendor,
        "device": info.device,
        "backend": format!("{:?}", info.backend),
        "device_type": format!("{:?}", info.device_type),
        "driver": info.driver,
        "driver_info": info.driver_info,
        "matmul_family": format!("{:?}", ctx.matmul_family()),
        "limits": {
            "max_storage_buffer_binding_size": limits.max_storage_buffer_binding_size,
            "max_buffer_size": limits.max_buffer_size,
            "max_compute_workgroups_per_dimension": limits.max_compute_workgroups_per_dimension,
            "max_compute_invocations_per_workgroup": limits.max_compute_invocations_per_workgroup,
            "max_compute_workgroup_storage_size": limits.max_compute_workgroup_storage_size,
        }
    })
}

/// Today's UTC date as YYYY-MM-DD (civil-from-days, no time-zone database needed).
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn validate_cmd(common: &Common, quick: bool) -> Result<ExitCode> {
    let ctx = open_context(common)?;
    let start = Instant::now();
    let results = validate::run_suite(&ctx, quick)?;
    // Per kernel: worst errors, tolerance, pass/fail.
    let mut kernels_seen: Vec<String> = Vec::new();
    for r in &results {
        let k = r.kernel();
        if !kernels_seen.contains(&k) {
            kernels_seen.push(k);
        }
    }
    let mut rows = Vec::new();
    let mut all_passed = true;
    for k in &kernels_seen {
        let group: Vec<&validate::Comparison> =
            results.iter().filter(|r| &r.kernel() == k).collect();
        let passed = group.iter().all(|r| r.passed());
        all_passed &= passed;
        let max_abs = group.iter().map(|r| r.max_abs).fold(0.0, f64::max);
        let max_rel = group.iter().map(|r| r.max_rel).fold(0.0, f64::max);
        let atol = group.iter().map(|r| r.tolerance.atol).fold(0.0, f64::max);
        let rtol = group.iter().map(|r| r.tolerance.rtol).fold(0.0, f64::max);
        rows.push(json!({
            "kernel": k, "checks": group.len(), "passed": passed,
            "max_abs_error": max_abs, "max_rel_error": max_rel,
            "atol_max": atol, "rtol_max": rtol,
            "failures": group.iter().filter(|r| !r.passed()).map(|r| r.report()).collect::<Vec<_>>(),
        }));
    }
    if common.json {
        let report = json!({
            "schema": "distill-wgpu-validate/1",
            "date": today(),
            "crate_version": env!("CARGO_PKG_VERSION"),
            "adapter": adapter_json(&ctx),
            "passed": all_passed,
            "checks": results.len(),
            "seconds": start.elapsed().as_secs_f64(),
            "kernels": rows,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!(
            "{:<28} {:>6} {:>11} {:>11} {:>9} {:>9}  result",
            "kernel", "checks", "max abs", "max rel", "atol≤", "rtol≤"
        );
        for r in &rows {
            println!(
                "{:<28} {:>6} {:>11.3e} {:>11.3e} {:>9.1e} {:>9.1e}  {}",
                r["kernel"].as_str().unwrap_or(""),
                r["checks"],
                r["max_abs_error"].as_f64().unwrap_or(f64::NAN),
                r["max_rel_error"].as_f64().unwrap_or(f64::NAN),
                r["atol_max"].as_f64().unwrap_or(f64::NAN),
                r["rtol_max"].as_f64().unwrap_or(f64::NAN),
                if r["passed"].as_bool() == Some(true) {
                    "pass"
                } else {
                    "FAIL"
                }
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

/// Median of three timings (the machines this runs on share their cores).
fn median_of_3(mut time: impl FnMut() -> Result<f64>) -> Result<f64> {
    let mut t = [time()?, time()?, time()?];
    t.sort_by(f64::total_cmp);
    Ok(t[1])
}

/// Seconds per run of a prepared kernel: one warm-up, then the median of three rounds of
/// `repeats` runs recorded into one submit each.
fn time_kernel(ctx: &GpuContext, kernel: &kernels::PreparedKernel, repeats: usize) -> Result<f64> {
    kernel.run(ctx, 1)?;
    median_of_3(|| {
        let start = Instant::now();
        kernel.run(ctx, repeats)?;
        Ok(start.elapsed().as_secs_f64() / repeats as f64)
    })
}

fn bench_cmd(common: &Common, quick: bool) -> Result<ExitCode> {
    let ctx = open_context(common)?;
    let mut rng = SplitMix64::new(common.seed.unwrap_or(1));
    let mut kernel_rows = Vec::new();
    let say = |line: String| {
        if !common.json {
            println!("{line}");
        }
    };
    let repeats = if quick { 2 } else { 5 };
    let shapes = workloads::matmul_workloads(quick);
    for (product, spec) in &shapes {
        let (variant, prepared) = workloads::prepare_matmul_workload(&ctx, &mut rng, spec)?;
        let secs = time_kernel(&ctx, &prepared, repeats)?;
        let gflops = spec.flops() / secs / 1e9;
        say(format!(
            "matmul {product:<6} {:>4}x{:<4}x{:<4} {:<16} {:>9.3} ms {:>8.2} GFLOP/s",
            spec.m,
            spec.n,
            spec.k,
            variant.name(),
            secs * 1e3,
            gflops
        ));
        kernel_rows.push(json!({
            "kernel": "matmul", "product": product, "shape": [spec.m, spec.n, spec.k],
            "variant": variant.name(), "seconds": secs, "gflops": gflops,
        }));
    }
    // Row kernels: bytes of the logits read plus outputs written, per second.
    for &(rows, cols) in workloads::ROW_SHAPES {
        for (name, prepared, bytes) in
            &workloads::prepare_row_workloads(&ctx, &mut rng, rows, cols)?
        {
            let secs = time_kernel(&ctx, prepared, repeats)?;
            let gbps = *bytes as f64 / secs / 1e9;
            say(format!(
                "{name:<7} {rows:>4}x{cols:<5} workgroup-per-row {:>9.3} ms {:>8.3} GB/s",
                secs * 1e3,
                gbps
            ));
            kernel_rows.push(json!({
                "kernel": name, "shape": [rows, cols], "variant": "workgroup-per-row",
                "seconds": secs, "gbps": gbps,
            }));
        }
    }
    // Whole KD step of a 784-800-800-10 student.
    let batches: &[usize] = if quick { &[128] } else { &[128, 1024] };
    let workload = workloads::KdStepWorkload::new(&ctx, &mut rng, 2048)?;
    let teacher_sizes = workload.teacher.spec().sizes.clone();
    let mut step_rows = Vec::new();
    for &batch in batches {
        for with_teacher in [false, true] {
            let mut trainer = workload.trainer(&ctx, batch)?;
            let steps = (2048 / batch).clamp(2, if quick { 3 } else { 8 });
            workload.run_steps(&ctx, &mut trainer, 1, with_teacher)?;
            ctx.wait()?;
            let secs = median_of_3(|| {
                let start = Instant::now();
                workload.run_steps(&ctx, &mut trainer, steps, with_teacher)?;
                ctx.wait()?;
                Ok(start.elapsed().as_secs_f64() / steps as f64)
            })?;
            let sps = batch as f64 / secs;
            let source = if with_teacher {
                "teacher 784-1200-1200-10 forward in step"
            } else {
                "cached teacher logits"
            };
            say(format!("kd step 784-800-800-10 batch {batch:>4}, {source:<40} {:>9.1} ms/step {:>9.0} samples/s", secs * 1e3, sps));
            step_rows.push(json!({
                "student": workload.student_spec.sizes, "batch": batch,
                "teacher": if with_teacher { json!(teacher_sizes) } else { json!("cached") },
                "seconds_per_step": secs, "samples_per_second": sps,
                "dispatches_per_step": trainer.dispatches_per_step(), "submits_per_step": 1,
            }));
        }
    }
    if common.json {
        let report = json!({
            "schema": "distill-wgpu-bench/1",
            "date": today(),
            "crate_version": env!("CARGO_PKG_VERSION"),
            "adapter": adapter_json(&ctx),
            "kernels": kernel_rows,
            "kd_step": step_rows,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The teacher shipped for the bundled data (see README for the command that reproduces it).
fn bundled_teacher() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join("teacher-mnist10k.safetensors")
}

fn load_data(common: &Common) -> Result<TrainTest> {
    let dir = common.data.clone().unwrap_or_else(data::bundled_dir);
    data::read_dir(&dir)
}

fn sizes(inputs: usize, hidden: &[usize], classes: usize) -> Vec<usize> {
    std::iter::once(inputs)
        .chain(hidden.iter().copied())
        .chain(std::iter::once(classes))
        .collect()
}

/// Everything one training run needs.
struct TrainJob<'a> {
    name: &'a str,
    spec: MlpSpec,
    epochs: usize,
    kd: KdConfig,
    dropout: Dropout,
    jitter: u32,
    init_seed: u64,
}

/// Trains one model on `train` and returns it with its epoch logs and wall time.
fn train_model(
    ctx: &GpuContext,
    common: &Common,
    train: &DeviceDataset,
    job: &TrainJob<'_>,
) -> Result<Trained> {
    let batch = common.batch_size.unwrap_or(defaults::BATCH);
    let lr = common.lr.unwrap_or(defaults::LR);
    let seed = common.seed.unwrap_or(defaults::SEED);
    let model = Mlp::new(ctx, &job.spec, job.init_seed)?;
    let mut trainer =
        Trainer::with_dropout(ctx, model, batch, Optimizer::adam(lr), job.kd, job.dropout)?;
    trainer.attach_dataset(ctx, train, job.jitter, seed as u32)?;
    let steps = (train.len() / batch) as u64 * job.epochs as u64;
    let bar = if common.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(steps)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} steps {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(job.name.to_string());
    let start = Instant::now();
    let logs = fit(
        ctx,
        &mut trainer,
        train,
        FitOptions {
            epochs: job.epochs,
            seed,
        },
        None,
        || bar.inc(1),
        |log| {
            bar.set_message(format!(
                "epoch {} loss {:.4} (ce {:.4} kl {:.4})",
                log.epoch, log.loss.total, log.loss.ce, log.loss.kl
            ));
        },
    )?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    if !common.quiet {
        if let Some(last) = logs.last() {
            // KL is only meaningful when a teacher term is trained.
            let kl = if job.kd.alpha > 0.0 {
                format!(", kl {:.4}", last.loss.kl)
            } else {
                String::new()
            };
            eprintln!(
                "{:>10}: {} epochs in {:.1} s, final loss {:.4} (ce {:.4}{kl})",
                job.name, job.epochs, secs, last.loss.total, last.loss.ce
            );
        }
    }
    Ok(Trained {
        model: trainer.into_student(),
        logs,
        seconds: secs,
    })
}

struct ModelResult {
    name: String,
    spec: MlpSpec,
    errors: usize,
    test_count: usize,
    seconds: f64,
    file: PathBuf,
    logs: Vec<EpochLog>,
}

fn result_json(r: &ModelResult) -> Value {
    json!({
        "model": r.name,
        "sizes": r.spec.sizes,
        "parameters": r.spec.parameter_count(),
        "test_errors": r.errors,
        "test_count": r.test_count,
        "test_accuracy": 1.0 - r.errors as f64 / r.test_count as f64,
        "train_seconds": r.seconds,
        "weights": r.file,
        "epochs": r.logs.iter().map(|l| json!({"epoch": l.epoch, "loss": l.loss.total, "ce": l.loss.ce, "kl": l.loss.kl, "seconds": l.seconds})).collect::<Vec<_>>(),
    })
}

fn print_table(ctx: &GpuContext, results: &[ModelResult]) {
    println!("\nadapter: {}", ctx.describe());
    println!(
        "{:<20} {:<22} {:>10} {:>9} {:>12} {:>9}",
        "model", "sizes", "params", "test acc", "test errors", "train s"
    );
    for r in results {
        let sizes = r
            .spec
            .sizes
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join("-");
        println!(
            "{:<20} {:<22} {:>10} {:>8.2}% {:>6} / {:<5} {:>8.1}",
            r.name,
            sizes,
            r.spec.parameter_count(),
            100.0 * (1.0 - r.errors as f64 / r.test_count as f64),
            r.errors,
            r.test_count,
            r.seconds
        );
    }
}

fn out_dir(common: &Common) -> Result<PathBuf> {
    let dir = common
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(defaults::OUT));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

fn kd_from(common: &Common) -> Result<KdConfig> {
    let kd = KdConfig {
        temperature: common.temperature.unwrap_or(defaults::TEMPERATURE),
        alpha: common.alpha.unwrap_or(defaults::ALPHA),
    };
    kd.validate()?;
    Ok(kd)
}

/// A trained model with its epoch logs and wall time.
struct Trained {
    model: Mlp,
    logs: Vec<EpochLog>,
    seconds: f64,
}

/// Evaluates a trained model on the test set and saves its weights.
fn finish_model(
    ctx: &GpuContext,
    test: &DeviceDataset,
    out: &Path,
    name: &str,
    trained: &Trained,
    extra: &[(&str, String)],
) -> Result<ModelResult> {
    let model = &trained.model;
    let eval = test.evaluate(ctx, model, 512)?;
    let file = out.join(format!("{name}.safetensors"));
    io::save(&file, model.spec(), &model.parameters(ctx)?, extra)?;
    Ok(ModelResult {
        name: name.to_string(),
        spec: model.spec().clone(),
        errors: eval.errors,
        test_count: eval.count,
        seconds: trained.seconds,
        file,
        logs: trained.logs.clone(),
    })
}

fn write_report(
    out: &Path,
    ctx: &GpuContext,
    settings: Value,
    results: &[ModelResult],
) -> Result<PathBuf> {
    let report = json!({
        "schema": "distill-wgpu-run/1",
        "date": today(),
        "crate_version": env!("CARGO_PKG_VERSION"),
        "adapter": adapter_json(ctx),
        "settings": settings,
        "models": results.iter().map(result_json).collect::<Vec<_>>(),
    });
    let path = out.join("report.json");
    io::write_atomic(
        &path,
        serde_json::to_string_pretty(&report)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    Ok(path)
}

fn run_cmd(common: &Common, args: &RunArgs) -> Result<ExitCode> {
    let data = load_data(common)?;
    let ctx = open_context(common)?;
    let out = out_dir(common)?;
    let seed = common.seed.unwrap_or(defaults::SEED);
    let kd = kd_from(common)?;
    let epochs = common.epochs.unwrap_or(defaults::EPOCHS);
    let mut train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let features = data.train.features();
    let mut results = Vec::new();

    let bundled = bundled_teacher();
    let teacher_file = match &args.teacher {
        Some(path) => Some(path.clone()),
        None if !args.train_teacher && common.data.is_none() && bundled.is_file() => Some(bundled),
        None => None,
    };
    let (teacher, teacher_result) = match &teacher_file {
        Some(path) => {
            let (spec, params) = io::load(path)?;
            let teacher = Mlp::from_parameters(&ctx, &spec, &params)?;
            let eval = test.evaluate(&ctx, &teacher, 512)?;
            let r = ModelResult {
                name: "teacher (loaded)".into(),
                spec,
                errors: eval.errors,
                test_count: eval.count,
                seconds: 0.0,
                file: path.clone(),
                logs: Vec::new(),
            };
            (teacher, r)
        }
        None => {
            let hidden = args
                .teacher_hidden
                .clone()
                .unwrap_or_else(|| defaults::TEACHER_HIDDEN.to_vec());
            let job = TrainJob {
                name: "teacher",
                spec: MlpSpec::relu(&sizes(features, &hidden, data.classes))?,
                epochs: args.teacher_epochs.unwrap_or(defaults::TEACHER_EPOCHS),
                kd: KdConfig::cross_entropy(),
                dropout: Dropout {
                    p: defaults::TEACHER_DROPOUT,
                    seed: seed as u32,
                },
                jitter: defaults::TEACHER_JITTER,
                init_seed: seed,
            };
            let trained = train_model(&ctx, common, &train, &job)?;
            let r = finish_model(&ctx, &test, &out, "teacher", &trained, &[])?;
            (trained.model, r)
        }
    };
    results.push(teacher_result);

    let hidden = common
        .hidden
        .clone()
        .unwrap_or_else(|| defaults::STUDENT_HIDDEN.to_vec());
    let student_spec = MlpSpec::relu(&sizes(features, &hidden, data.classes))?;
    // Same initialisation for both students, so the only difference is the teacher's signal.
    let scratch_job = TrainJob {
        name: "student-scratch",
        spec: student_spec.clone(),
        epochs,
        kd: KdConfig::cross_entropy(),
        dropout: Dropout::none(),
        jitter: 0,
        init_seed: seed + 1,
    };
    let scratch = train_model(&ctx, common, &train, &scratch_job)?;
    results.push(finish_model(
        &ctx,
        &test,
        &out,
        "student-scratch",
        &scratch,
        &[],
    )?);

    let cache_start = Instant::now();
    train.cache_teacher_logits(&ctx, &teacher, 512)?;
    let distill_job = TrainJob {
        name: "student-distilled",
        kd,
        ..scratch_job
    };
    let mut distilled = train_model(&ctx, common, &train, &distill_job)?;
    // The distilled student's time includes caching the teacher's logits.
    distilled.seconds = cache_start.elapsed().as_secs_f64();
    let meta = [
        ("distill_wgpu.temperature", kd.temperature.to_string()),
        ("distill_wgpu.alpha", kd.alpha.to_string()),
    ];
    results.push(finish_model(
        &ctx,
        &test,
        &out,
        "student-distilled",
        &distilled,
        &meta,
    )?);

    print_table(&ctx, &results);
    let settings = json!({
        "seed": seed, "epochs": epochs, "batch_size": common.batch_size.unwrap_or(defaults::BATCH),
        "lr": common.lr.unwrap_or(defaults::LR), "temperature": kd.temperature, "alpha": kd.alpha,
        "teacher_dropout": defaults::TEACHER_DROPOUT, "teacher_jitter": defaults::TEACHER_JITTER,
        "data": common.data.clone().unwrap_or_else(data::bundled_dir),
        "train_samples": data.train.len(), "test_samples": data.test.len(),
    });
    let report = write_report(&out, &ctx, settings, &results)?;
    println!(
        "T = {}, α = {}; weights and {} written to {}",
        kd.temperature,
        kd.alpha,
        report.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn train_cmd(common: &Common, args: &TrainArgs) -> Result<ExitCode> {
    let data = load_data(common)?;
    let ctx = open_context(common)?;
    let out = out_dir(common)?;
    let seed = common.seed.unwrap_or(defaults::SEED);
    let train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let hidden = common
        .hidden
        .clone()
        .unwrap_or_else(|| defaults::TEACHER_HIDDEN.to_vec());
    let job = TrainJob {
        name: "model",
        spec: MlpSpec::relu(&sizes(data.train.features(), &hidden, data.classes))?,
        epochs: common.epochs.unwrap_or(defaults::TEACHER_EPOCHS),
        kd: KdConfig::cross_entropy(),
        dropout: Dropout {
            p: args.dropout,
            seed: seed as u32,
        },
        jitter: args.jitter,
        init_seed: seed,
    };
    let trained = train_model(&ctx, common, &train, &job)?;
    let results = vec![finish_model(&ctx, &test, &out, "model", &trained, &[])?];
    print_table(&ctx, &results);
    let settings =
        json!({"seed": seed, "dropout": args.dropout, "jitter": args.jitter, "epochs": job.epochs});
    write_report(&out, &ctx, settings, &results)?;
    Ok(ExitCode::SUCCESS)
}

fn distill_cmd(common: &Common, teacher_path: &Path) -> Result<ExitCode> {
    let data = load_data(common)?;
    let ctx = open_context(common)?;
    let (spec, params) = io::load(teacher_path)?;
    let teacher = Mlp::from_parameters(&ctx, &spec, &params)?;
    let out = out_dir(common)?;
    let seed = common.seed.unwrap_or(defaults::SEED);
    let kd = kd_from(common)?;
    let mut train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    train.cache_teacher_logits(&ctx, &teacher, 512)?;
    let hidden = common
        .hidden
        .clone()
        .unwrap_or_else(|| defaults::STUDENT_HIDDEN.to_vec());
    let job = TrainJob {
        name: "student",
        spec: MlpSpec::relu(&sizes(data.train.features(), &hidden, data.classes))?,
        epochs: common.epochs.unwrap_or(defaults::EPOCHS),
        kd,
        dropout: Dropout::none(),
        jitter: 0,
        init_seed: seed + 1,
    };
    let trained = train_model(&ctx, common, &train, &job)?;
    let meta = [
        ("distill_wgpu.temperature", kd.temperature.to_string()),
        ("distill_wgpu.alpha", kd.alpha.to_string()),
    ];
    let results = vec![finish_model(
        &ctx,
        &test,
        &out,
        "student-distilled",
        &trained,
        &meta,
    )?];
    print_table(&ctx, &results);
    let settings = json!({"seed": seed, "teacher": teacher_path, "temperature": kd.temperature, "alpha": kd.alpha});
    write_report(&out, &ctx, settings, &results)?;
    Ok(ExitCode::SUCCESS)
}

fn eval_cmd(common: &Common, model_path: &Path) -> Result<ExitCode> {
    let data = load_data(common)?;
    let ctx = open_context(common)?;
    let (spec, params) = io::load(model_path)?;
    let model = Mlp::from_parameters(&ctx, &spec, &params)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let eval = test.evaluate(&ctx, &model, 512)?;
    if common.json {
        println!(
            "{}",
            json!({"model": model_path, "sizes": spec.sizes, "test_errors": eval.errors, "test_count": eval.count, "test_accuracy": eval.accuracy()})
        );
    } else {
        println!(
            "{}: {} errors / {} ({:.2}% accuracy)",
            model_path.display(),
            eval.errors,
            eval.count,
            100.0 * eval.accuracy()
        );
    }
    Ok(ExitCode::SUCCESS)
}
