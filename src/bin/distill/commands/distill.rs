//! `distill distill`: a student distilled from a saved teacher.

use std::path::Path;
use std::process::ExitCode;

use distill_wgpu::data::npy::read_f32_matrix;
use distill_wgpu::model::io;
use distill_wgpu::{DeviceDataset, Dropout, Error, Mlp, Result, TeacherLogits};

use crate::jobs::{finish_model, kd_from, load_data, print_table, spec_and_init};
use crate::output::{check_inputs_not_outputs, job_outputs, prepare};
use crate::report::{write_run_report, Settings};
use crate::training::{train_model, TrainJob};
use crate::{defaults, open_context, Common, DistillArgs};

pub fn run(common: &Common, args: &DistillArgs) -> Result<ExitCode> {
    let data = load_data(common)?;
    let teacher_model = args.teacher.as_deref().map(io::load).transpose()?;
    let teacher_npy = args
        .teacher_logits
        .as_deref()
        .map(|path| read_f32_matrix(path, data.train.len(), data.classes))
        .transpose()?;
    let (spec, init) = spec_and_init(
        common,
        &data,
        defaults::STUDENT_HIDDEN,
        args.init.as_deref(),
    )?;
    let out = prepare(common)?;
    let mut inputs: Vec<&Path> = args.teacher.iter().map(|p| p.as_path()).collect();
    inputs.extend(args.teacher_logits.as_deref());
    inputs.extend(args.init.as_deref());
    check_inputs_not_outputs(
        &inputs,
        &job_outputs(&out, &["student-distilled", "student"]),
    )?;
    let ctx = open_context(common)?;
    let seed = common.seed.unwrap_or(defaults::SEED);
    let kd = kd_from(common)?;
    let train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let teacher_logits = match (teacher_model, teacher_npy) {
        (Some((teacher_spec, teacher_params)), _) => {
            let teacher = Mlp::from_parameters(&ctx, &teacher_spec, &teacher_params)?;
            TeacherLogits::compute(&ctx, &teacher, &train, 512)?
        }
        (None, Some(logits)) => TeacherLogits::from_host(&ctx, &train, &logits)?,
        (None, None) => {
            return Err(Error::InvalidConfig(
                "distill needs --teacher or --teacher-logits".into(),
            ))
        }
    };
    let job = TrainJob {
        name: "student",
        spec: &spec,
        epochs: common.epochs.unwrap_or(defaults::EPOCHS),
        kd,
        teacher: Some(&teacher_logits),
        dropout: Dropout::none(),
        jitter: 0,
        init_seed: seed + 1,
        init: init.as_deref().zip(args.init.as_deref()),
        classes: None,
    };
    let trained = train_model(&ctx, common, &train, &job, &out)?;
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
        teacher: args.teacher.clone().or_else(|| args.teacher_logits.clone()),
        init: args.init.clone(),
        temperature: Some(kd.temperature),
        alpha: Some(kd.alpha),
        ..Settings::default()
    };
    let report = write_run_report(&out, &ctx, settings, &results)?;
    println!(
        "weights and {} written to {}",
        report.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
