//! `distill distill`: a student distilled from one teacher, or from several (or partial) ones
//! weighed per sample.

use std::process::ExitCode;

use distill_wgpu::{DeviceDataset, Dropout, Result, TeacherLogits, Teachers};

use crate::jobs::{finish_model, kd_from, load_data, print_table, spec_and_init};
use crate::output::{check_inputs_not_outputs, job_outputs, prepare};
use crate::report::{write_run_report, Settings};
use crate::teachers::{weighing, TeacherFiles};
use crate::training::{train_model, TrainJob};
use crate::{defaults, open_context, Common, DistillArgs};

pub fn run(common: &Common, args: &DistillArgs) -> Result<ExitCode> {
    let data = load_data(common)?;
    let teachers = TeacherFiles::read(args, &data)?;
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
    let logits = teachers.logits(&ctx, &train)?;
    // One teacher that knows every class, with no weighing asked for, keeps the plain loss.
    let single = teachers.is_single() && args.teacher_weights.is_none() && args.combine.is_none();
    let (multi, base_weights) = if single {
        (None, Vec::new())
    } else {
        let (config, base) = weighing(args, kd, &ctx, &logits, &data.train.labels, seed)?;
        (Some(config), base)
    };
    let stacked = multi
        .map(|_| TeacherLogits::stack(&ctx, &logits.iter().collect::<Vec<_>>()))
        .transpose()?;
    let ensemble = stacked.as_ref().map(|logits| Teachers {
        logits,
        known: &teachers.known,
        base_weights: &base_weights,
    });
    let job = TrainJob {
        name: "student",
        spec: &spec,
        epochs: common.epochs.unwrap_or(defaults::EPOCHS),
        kd,
        teacher: if single { logits.first() } else { None },
        dropout: Dropout::none(),
        jitter: 0,
        init_seed: seed + 1,
        init: init.as_deref().zip(args.init.as_deref()),
        classes: None,
        teachers: ensemble.as_ref().zip(multi),
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
        teacher_weights: multi.map(|m| format!("{:?} {:?} {base_weights:?}", m.weights, m.combine)),
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
