//! `distill run` (the default): teacher (bundled, loaded or trained live), scratch student and
//! distilled student on the same data, the results table and report.json.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use distill_wgpu::data;
use distill_wgpu::eval::evaluate;
use distill_wgpu::model::io;
use distill_wgpu::{DeviceDataset, Dropout, KdConfig, Mlp, MlpSpec, Result, TeacherLogits};

use crate::jobs::{bundled_teacher, finish_model, kd_from, load_data, print_table, sizes};
use crate::output::{check_inputs_not_outputs, job_outputs, prepare};
use crate::report::{write_run_report, ModelReport, Settings};
use crate::training::{train_model, TrainJob};
use crate::{defaults, open_context, Common, RunArgs};

pub fn run(common: &Common, args: &RunArgs) -> Result<ExitCode> {
    let data = load_data(common)?;
    let bundled = bundled_teacher();
    let teacher_file = match &args.teacher {
        Some(path) => Some(path.clone()),
        None if !args.train_teacher && common.data.is_none() && bundled.is_file() => Some(bundled),
        None => None,
    };
    let loaded_teacher = teacher_file.as_deref().map(io::load).transpose()?;
    let out = prepare(common)?;
    let inputs: Vec<&Path> = teacher_file.iter().map(|p| p.as_path()).collect();
    let names = ["teacher", "student-scratch", "student-distilled"];
    check_inputs_not_outputs(&inputs, &job_outputs(&out, &names))?;
    let ctx = open_context(common)?;
    let seed = common.seed.unwrap_or(defaults::SEED);
    let kd = kd_from(common)?;
    let epochs = common.epochs.unwrap_or(defaults::EPOCHS);
    let train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let features = data.train.features();
    let mut results = Vec::new();

    let (teacher, teacher_result) = match (&teacher_file, loaded_teacher) {
        (Some(path), Some((spec, params))) => {
            let teacher = Mlp::from_parameters(&ctx, &spec, &params)?;
            let eval = evaluate(&ctx, &teacher, &test, 512)?;
            let r = ModelReport {
                name: "teacher (loaded)".into(),
                sizes: spec.sizes.clone(),
                parameters: spec.parameter_count(),
                test_errors: eval.errors,
                test_count: eval.count,
                test_accuracy: eval.accuracy(),
                train_seconds: 0.0,
                weights: path.clone(),
                epochs: Vec::new(),
            };
            (teacher, r)
        }
        _ => {
            let hidden = args
                .teacher_hidden
                .clone()
                .unwrap_or_else(|| defaults::TEACHER_HIDDEN.to_vec());
            let spec = MlpSpec::relu(&sizes(features, &hidden, data.classes))?;
            let job = TrainJob {
                name: "teacher",
                spec: &spec,
                epochs: args.teacher_epochs.unwrap_or(defaults::TEACHER_EPOCHS),
                kd: KdConfig::cross_entropy(),
                teacher: None,
                dropout: Dropout {
                    p: defaults::TEACHER_DROPOUT,
                    seed: seed as u32,
                },
                jitter: defaults::TEACHER_JITTER,
                init_seed: seed,
                init: None,
                classes: None,
                teachers: None,
            };
            let trained = train_model(&ctx, common, &train, &job, &out)?;
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
        spec: &student_spec,
        epochs,
        kd: KdConfig::cross_entropy(),
        teacher: None,
        dropout: Dropout::none(),
        jitter: 0,
        init_seed: seed + 1,
        init: None,
        classes: None,
        teachers: None,
    };
    let scratch = train_model(&ctx, common, &train, &scratch_job, &out)?;
    results.push(finish_model(
        &ctx,
        &test,
        &out,
        "student-scratch",
        &scratch,
        &[],
    )?);

    let cache_start = Instant::now();
    let teacher_logits = TeacherLogits::compute(&ctx, &teacher, &train, 512)?;
    let distill_job = TrainJob {
        name: "student-distilled",
        kd,
        teacher: Some(&teacher_logits),
        ..scratch_job
    };
    let mut distilled = train_model(&ctx, common, &train, &distill_job, &out)?;
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
    let settings = Settings {
        seed,
        epochs: Some(epochs),
        batch_size: Some(common.batch_size.unwrap_or(defaults::BATCH)),
        lr: Some(common.lr.unwrap_or(defaults::LR)),
        temperature: Some(kd.temperature),
        alpha: Some(kd.alpha),
        teacher_dropout: Some(defaults::TEACHER_DROPOUT),
        teacher_jitter: Some(defaults::TEACHER_JITTER),
        data: Some(common.data.clone().unwrap_or_else(data::bundled_dir)),
        train_samples: Some(data.train.len()),
        test_samples: Some(data.test.len()),
        ..Settings::default()
    };
    let report = write_run_report(&out, &ctx, settings, &results)?;
    println!(
        "T = {}, α = {}; weights and {} written to {}",
        kd.temperature,
        kd.alpha,
        report.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
