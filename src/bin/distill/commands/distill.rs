//! `distill distill`: a student distilled from one teacher, or from several (or partial) ones
//! weighed per sample.

use std::process::ExitCode;

use distill_wgpu::{DeviceDataset, Dropout, Result};

use crate::jobs::{finish_model, kd_from, load_data, print_table, spec_and_init, val_fraction};
use crate::output::{check_inputs_not_outputs, file_name, job_outputs, prepare};
use crate::pages::write_run_pages;
use crate::report::{write_run_report, Settings};
use crate::teachers::{Ready, TeacherFiles};
use crate::training::{train_model, TrainJob};
use crate::{defaults, open_context, Common, DistillArgs};

pub fn run(common: &Common, args: &DistillArgs) -> Result<ExitCode> {
    let data = load_data(common)?;
    let teachers = TeacherFiles::read(&args.teachers, &data)?;
    let (spec, init) = spec_and_init(
        common,
        &data,
        defaults::STUDENT_HIDDEN,
        args.init.as_deref(),
    )?;
    let out = prepare(common)?;
    let mut inputs = teachers.paths();
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
    let ready = Ready::from_files(
        &ctx,
        &teachers,
        &args.teachers,
        kd,
        (&train, &data.train.labels),
        (val_fraction(common), seed),
    )?;
    let weighed = ready.weighed();
    let job = TrainJob {
        name: "student",
        spec: &spec,
        epochs: common.epochs.unwrap_or(defaults::EPOCHS),
        kd,
        teacher: ready.plain(),
        dropout: Dropout::none(),
        jitter: 0,
        init_seed: seed + 1,
        init: init.as_deref().zip(args.init.as_deref()),
        classes: None,
        teachers: weighed.as_ref().map(|(t, config)| (t, *config)),
        test: Some(&test),
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
        ..Settings::default()
    };
    let report = write_run_report(&out, &ctx, &settings, &results)?;
    let [csv, html] = write_run_pages(&out, "distill", &ctx, &settings, &results)?;
    println!(
        "weights, {}, {} and {} written to {}",
        file_name(&report),
        file_name(&html),
        file_name(&csv),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
