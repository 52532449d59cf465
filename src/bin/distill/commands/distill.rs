//! `distill distill`: a student distilled from one teacher, or from several (or partial) ones
//! weighed per sample.

use std::process::ExitCode;

use serde_json::json;

use distill_wgpu::{DeviceDataset, Dropout, Error, GpuContext, KdConfig, Mlp, Result};

use crate::cli::DistillArgs;
use crate::jobs::{data_settings, finish_model, load_data, print_table, publish, spec_and_init};
use crate::objective_flags::{LossKind, Objectives};
use crate::output::{check_inputs_not_outputs, job_outputs, prepare, Resume};
use crate::report::Settings;
use crate::teachers::{Ready, TeacherFiles};
use crate::training::{train_model, TrainJob};
use crate::{defaults, open_context};

/// DKD's temperature unless --temperature says otherwise (the paper's T = 4).
const DKD_TEMPERATURE: f32 = 4.0;

/// Distills the student and writes its weights and reports.
pub fn run(args: &DistillArgs) -> Result<ExitCode> {
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
    let student = TrainJob {
        name: "student",
        spec: &spec,
        epochs: job.training.epochs.unwrap_or(defaults::EPOCHS),
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
    let trained = train_model(&ctx, job, &train, &student, &out)?;
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
