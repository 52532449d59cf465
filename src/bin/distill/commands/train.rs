//! `distill train`: a model trained with cross-entropy (a teacher, or a scratch baseline).

use std::path::Path;
use std::process::ExitCode;

use distill_wgpu::classes::CLASSES_KEY;
use distill_wgpu::eval::calibrate::{held_out_entry, HELD_OUT_KEY};
use distill_wgpu::{ClassSet, DeviceDataset, Dropout, KdConfig, Result};

use crate::cli::TrainArgs;
use crate::jobs::{data_settings, finish_model_as, load_data, print_table, publish, spec_and_init};
use crate::objective_flags::Objectives;
use crate::output::{check_inputs_not_outputs, job_outputs, prepare, Resume};
use crate::report::Settings;
use crate::training::{train_model, TrainJob};
use crate::{defaults, open_context};

/// Trains the model and writes its weights and reports.
pub fn run(args: &TrainArgs) -> Result<ExitCode> {
    if args.task.is_regression() {
        return super::regression::train(args);
    }
    args.task.check_classification()?;
    let flags = &args.job;
    let mut data = load_data(&flags.data)?;
    let seed = flags.training.seed();
    // --val-fraction holds a seeded share out of training, recorded so `calibrate` fits on it.
    let held_out = flags.val_fraction.map(|f| (f, seed));
    if let Some((fraction, seed)) = held_out {
        data.train = data.train.split(fraction, seed)?.0;
    }
    let known = args
        .classes
        .as_deref()
        .map(|list| ClassSet::parse(list, data.classes))
        .transpose()?;
    if let Some(known) = &known {
        // Train and test on those classes; the model still outputs every class.
        data.train = data.train.filter_classes(known)?;
        data.test = data.test.filter_classes(known)?;
    }
    let (spec, init) = spec_and_init(
        flags.hidden(),
        &data,
        defaults::TEACHER_HIDDEN,
        args.init.as_deref(),
    )?;
    let out = prepare(&flags.output, Resume::from_flag(flags.resume))?;
    let inputs: Vec<&Path> = args.init.iter().map(|p| p.as_path()).collect();
    check_inputs_not_outputs(&inputs, &job_outputs(&out, &["model"]))?;
    let ctx = open_context(&flags.gpu, false)?;
    let train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let job = TrainJob {
        name: "model",
        spec: &spec,
        epochs: flags.training.epochs.unwrap_or(defaults::TEACHER_EPOCHS),
        kd: KdConfig::cross_entropy(),
        teacher: None,
        dropout: Dropout {
            p: args.dropout,
            seed: seed as u32,
        },
        jitter: args.jitter,
        init_seed: seed,
        init: init.as_deref().zip(args.init.as_deref()),
        classes: known.as_ref(),
        teachers: None,
        test: Some(&test),
        objectives: Objectives::default(),
        hint_teacher: None,
    };
    let trained = train_model(&ctx, flags, &train, &job, &out)?;
    let mut meta: Vec<(&str, String)> =
        known.iter().map(|k| (CLASSES_KEY, k.to_string())).collect();
    meta.extend(held_out.map(|h| (HELD_OUT_KEY, held_out_entry(h))));
    let results = vec![finish_model_as(
        &ctx,
        &test,
        &out,
        "model",
        &trained,
        &meta,
        args.weights_precision.precision(),
    )?];
    print_table(&ctx, &results);
    if let Some(known) = &known {
        println!(
            "trained and tested on classes {known} only ({} and {} samples)",
            data.train.len(),
            data.test.len()
        );
    }
    let settings = Settings {
        seed,
        dropout: Some(args.dropout),
        jitter: Some(args.jitter),
        epochs: Some(job.epochs),
        init: args.init.clone(),
        classes: known.as_ref().map(ToString::to_string),
        ..data_settings(&flags.data)
    };
    publish(&out, &ctx, "train", &settings, &results)?;
    Ok(ExitCode::SUCCESS)
}
