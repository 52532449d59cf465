//! `distill distill`: a student distilled from one teacher, or from several (or partial) ones
//! weighed per sample.

use std::process::ExitCode;

use serde_json::json;

use distill_wgpu::model::int8::Int8Model;
use distill_wgpu::model::prune::{dense_bytes, sparse_bytes, weight_sparsity};
use distill_wgpu::train::Compression;
use distill_wgpu::{DeviceDataset, Dropout, Error, GpuContext, KdConfig, Mlp, Result};

use crate::cli::DistillArgs;
use crate::jobs::{data_settings, finish_model, load_data, print_table, publish, spec_and_init};
use crate::objective_flags::{LossKind, Objectives};
use crate::output::{check_inputs_not_outputs, job_outputs, prepare, Resume};
use crate::report::Settings;
use crate::teachers::{Ready, TeacherFiles};
use crate::training::{train_model, train_model_with, TrainJob, Trained};
use crate::{defaults, open_context};

/// DKD's temperature unless --temperature says otherwise (the paper's T = 4).
const DKD_TEMPERATURE: f32 = 4.0;

/// Distills the student and writes its weights and reports.
pub fn run(args: &DistillArgs) -> Result<ExitCode> {
    if args.task.is_regression() {
        return super::regression::distill(args);
    }
    args.task.check_classification()?;
    let job = &args.job;
    let mut kd = args.kd.config()?;
    if args.objectives.loss == LossKind::Dkd && args.kd.temperature.is_none() {
        kd.temperature = DKD_TEMPERATURE;
    }
    let objectives = args.objectives.objectives(kd)?;
    if args.teachers.is_empty() {
        // Only an EMA teacher (the flag group requires a teacher of some kind).
        return ema_only(args, kd, objectives);
    }
    let data = load_data(&job.data)?;
    let teachers = TeacherFiles::read(&args.teachers, &data)?;
    let (spec, init) = spec_and_init(
        job.hidden(),
        &data,
        defaults::STUDENT_HIDDEN,
        args.init.as_deref(),
    )?;
    let out = prepare(&job.output, Resume::from_flag(job.resume))?;
    let mut inputs = teachers.paths();
    inputs.extend(args.init.as_deref());
    check_inputs_not_outputs(
        &inputs,
        &job_outputs(&out, &["student-distilled", "student"]),
    )?;
    let ctx = open_context(&job.gpu, false)?;
    let seed = job.training.seed();
    let train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let ready = Ready::from_files(
        &ctx,
        &teachers,
        &args.teachers,
        kd,
        (&train, &data.train.labels),
        (job.val_fraction(), seed),
    )?;
    let weighed = ready.weighed();
    let hint_teacher = match objectives.hint {
        Some(_) => Some(hint_teacher(&ctx, &teachers)?),
        None => None,
    };
    let compression = args.compression.compression();
    let student = TrainJob {
        name: "student",
        spec: &spec,
        epochs: (args.compression.finetune_epochs)
            .or(job.training.epochs)
            .unwrap_or(defaults::EPOCHS),
        kd,
        teacher: ready.plain(),
        dropout: Dropout::none(),
        jitter: 0,
        init_seed: seed + 1,
        init: init.as_deref().zip(args.init.as_deref()),
        classes: None,
        teachers: weighed.as_ref().map(|(t, config)| (t, *config)),
        test: Some(&test),
        objectives,
        hint_teacher: hint_teacher.as_ref(),
    };
    let trained = train_model_with(&ctx, job, &train, &student, &out, compression)?;
    let meta = [
        ("distill_wgpu.temperature", kd.temperature.to_string()),
        ("distill_wgpu.alpha", kd.alpha.to_string()),
    ];
    let int8_path = out.join("student-distilled-int8.safetensors");
    let trained = compressed(&ctx, &trained, compression, &int8_path, &meta)?;
    let results = vec![finish_model(
        &ctx,
        &test,
        &out,
        "student-distilled",
        &trained,
        &meta,
    )?];
    print_table(&ctx, &results);
    let settings = Settings {
        seed,
        teacher: teachers.paths().first().map(|p| p.to_path_buf()),
        teachers: (teachers.paths().len() > 1)
            .then(|| teachers.paths().iter().map(|p| p.to_path_buf()).collect()),
        teacher_weights: ready.describe(),
        kd_dropped: (!ready.dropped().is_empty()).then(|| ready.dropped().to_vec()),
        teacher_calibration: (!ready.calibration().is_empty())
            .then(|| ready.calibration().to_vec()),
        init: args.init.clone(),
        temperature: Some(kd.temperature),
        alpha: Some(kd.alpha),
        objectives: args.objectives.any().then(|| json!(objectives)),
        ..data_settings(&job.data)
    };
    publish(&out, &ctx, "distill", &settings, &results)?;
    Ok(ExitCode::SUCCESS)
}

/// The model to evaluate and save as `student-distilled.safetensors`: with int8, the weights
/// the int8 file (written here to `int8_path`) holds, dequantized, so the float file and the
/// reported errors are the int8 model's; with pruning, the trained model. Prints the sizes.
fn compressed(
    ctx: &GpuContext,
    trained: &Trained,
    compression: Compression,
    int8_path: &std::path::Path,
    meta: &[(&str, String)],
) -> Result<Trained> {
    let params = trained.model.parameters(ctx)?;
    let spec = trained.model.spec();
    let mut model = None;
    if compression.quantize.is_some() {
        let int8 = Int8Model::quantize(spec, &params)?;
        distill_wgpu::files::write_atomic(int8_path, &int8.to_safetensors(meta)?)?;
        println!(
            "int8 model: {} ({} bytes of tensors, against {} as f32)",
            int8_path.display(),
            int8.tensor_bytes(),
            dense_bytes(spec)
        );
        model = Some(Mlp::from_parameters(ctx, spec, &int8.dequantized())?);
    }
    if let Some(target) = compression.prune {
        println!(
            "pruned model: {:.1} % of the weights zero (target {:.1} %); {} bytes as compressed \
             sparse rows (f32 value and u16 column a nonzero weight), {} dense f32",
            100.0 * weight_sparsity(spec, &params),
            100.0 * target.fraction(),
            sparse_bytes(spec, &params),
            dense_bytes(spec)
        );
    }
    Ok(Trained {
        model: match model {
            Some(m) => m,
            None => trained.model.duplicate(ctx)?,
        },
        logs: trained.logs.clone(),
        test_errors: trained.test_errors.clone(),
        seconds: trained.seconds,
    })
}

/// The one teacher model a hint reads hidden activations from.
fn hint_teacher(ctx: &GpuContext, teachers: &TeacherFiles) -> Result<Mlp> {
    let mut models = teachers.models(ctx)?;
    if models.len() != 1 || !teachers.is_single() {
        return Err(Error::InvalidConfig(
            "--hint needs exactly one teacher, a --teacher model (logits carry no hidden layers)"
                .into(),
        ));
    }
    Ok(models.remove(0).1)
}

/// A student taught by its own EMA teacher alone.
fn ema_only(args: &DistillArgs, kd: KdConfig, objectives: Objectives) -> Result<ExitCode> {
    let job = &args.job;
    if objectives.hint.is_some() {
        return Err(Error::InvalidConfig(
            "--hint needs a --teacher model to read hidden layers from".into(),
        ));
    }
    if !args.compression.compression().is_none() {
        return Err(Error::InvalidConfig(
            "--quantize and --prune distill from a --teacher (or --teacher-logits)".into(),
        ));
    }
    let data = load_data(&job.data)?;
    let (spec, init) = spec_and_init(
        job.hidden(),
        &data,
        defaults::STUDENT_HIDDEN,
        args.init.as_deref(),
    )?;
    let out = prepare(&job.output, Resume::from_flag(job.resume))?;
    let inputs: Vec<&std::path::Path> = args.init.as_deref().into_iter().collect();
    check_inputs_not_outputs(&inputs, &job_outputs(&out, &["student-ema"]))?;
    let ctx = open_context(&job.gpu, false)?;
    let seed = job.training.seed();
    let train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let student = TrainJob {
        name: "student",
        spec: &spec,
        epochs: job.training.epochs.unwrap_or(defaults::EPOCHS),
        kd,
        teacher: None,
        dropout: Dropout::none(),
        jitter: 0,
        init_seed: seed + 1,
        init: init.as_deref().zip(args.init.as_deref()),
        classes: None,
        teachers: None,
        test: Some(&test),
        objectives,
        hint_teacher: None,
    };
    let trained = train_model(&ctx, job, &train, &student, &out)?;
    let results = vec![finish_model(
        &ctx,
        &test,
        &out,
        "student-ema",
        &trained,
        &[],
    )?];
    print_table(&ctx, &results);
    let settings = Settings {
        seed,
        init: args.init.clone(),
        temperature: Some(kd.temperature),
        alpha: Some(kd.alpha),
        objectives: Some(json!(objectives)),
        ..data_settings(&job.data)
    };
    publish(&out, &ctx, "distill", &settings, &results)?;
    Ok(ExitCode::SUCCESS)
}
