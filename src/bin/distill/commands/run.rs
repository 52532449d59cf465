//! `distill run` (the default): teacher (bundled, loaded or trained live), scratch student and
//! distilled student on the same data, the results table, report.json, report.html and
//! metrics.csv.

use std::process::ExitCode;
use std::time::Instant;

use distill_wgpu::{DeviceDataset, Dropout, KdConfig, MlpSpec, Result, TeacherLogits};

use crate::cli::{RunArgs, TeacherFlags};
use crate::jobs::{
    bundled_teacher, data_settings, finish_model, load_data, model_report, print_table, sizes,
};
use crate::objective_flags::Objectives;
use crate::output::{check_inputs_not_outputs, file_name, job_outputs, prepare, Resume};
use crate::pages::write_run_pages;
use crate::report::{write_run_report, Settings};
use crate::teachers::{Ready, TeacherFiles};
use crate::training::{train_model, TrainJob};
use crate::{defaults, open_context};

/// Runs the pipeline and writes its weights, table and reports.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let flags = &args.job;
    let kd = args.kd.config()?;
    let data = load_data(&flags.data)?;
    let bundled = bundled_teacher();
    // Teachers named by flags; else the bundled one for the bundled data; else one trained live.
    let named = if !args.teachers.is_empty() {
        Some(TeacherFiles::read(&args.teachers, &data)?)
    } else if !args.train_teacher && flags.data.data.is_none() && bundled.is_file() {
        let flags = TeacherFlags {
            teacher: vec![bundled],
            ..TeacherFlags::default()
        };
        Some(TeacherFiles::read(&flags, &data)?)
    } else {
        None
    };
    let out = prepare(&flags.output, Resume::from_flag(flags.resume))?;
    let inputs = named.as_ref().map(TeacherFiles::paths).unwrap_or_default();
    let names = ["teacher", "student-scratch", "student-distilled"];
    check_inputs_not_outputs(&inputs, &job_outputs(&out, &names))?;
    let ctx = open_context(&flags.gpu, false)?;
    let seed = flags.training.seed();
    let epochs = flags.training.epochs.unwrap_or(defaults::EPOCHS);
    let train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let features = data.train.features();
    // Jitter shifts images; tabular samples are trained as they are.
    let teacher_jitter = if data.train.is_tabular() {
        0
    } else {
        defaults::TEACHER_JITTER
    };
    let mut results = Vec::new();

    let (ready, cache_seconds) = match &named {
        Some(files) => {
            let models = files.models(&ctx)?;
            let several = models.len() > 1;
            for (i, (path, teacher)) in models.iter().enumerate() {
                let name = if several {
                    format!("teacher {} (loaded)", i + 1)
                } else {
                    "teacher (loaded)".into()
                };
                let weights = (path.to_path_buf(), 0.0);
                results.push(model_report(
                    &ctx,
                    &test,
                    &name,
                    teacher,
                    weights,
                    Vec::new(),
                )?);
            }
            let start = Instant::now();
            let labels = (&train, data.train.labels.as_slice());
            let validation = (flags.val_fraction(), seed);
            let ready = Ready::from_files(&ctx, files, &args.teachers, kd, labels, validation)?;
            (ready, start.elapsed().as_secs_f64())
        }
        None => {
            let hidden = args
                .teacher_hidden
                .as_ref()
                .map_or(defaults::TEACHER_HIDDEN, |h| h.0.as_slice());
            let spec = MlpSpec::relu(&sizes(features, hidden, data.classes))?;
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
                jitter: teacher_jitter,
                init_seed: seed,
                init: None,
                classes: None,
                teachers: None,
                test: Some(&test),
                objectives: Objectives::default(),
                hint_teacher: None,
            };
            let trained = train_model(&ctx, flags, &train, &job, &out)?;
            results.push(finish_model(&ctx, &test, &out, "teacher", &trained, &[])?);
            let start = Instant::now();
            let logits = TeacherLogits::compute(&ctx, &trained.model, &train, 512)?;
            let calibrate = args.teachers.calibrate_teacher;
            let labels = (&train, data.train.labels.as_slice());
            let validation = (flags.val_fraction(), seed);
            let ready = Ready::single(&ctx, logits, calibrate, labels, validation)?;
            (ready, start.elapsed().as_secs_f64())
        }
    };

    let hidden = flags.hidden().unwrap_or(defaults::STUDENT_HIDDEN);
    let student_spec = MlpSpec::relu(&sizes(features, hidden, data.classes))?;
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
        test: Some(&test),
        objectives: Objectives::default(),
        hint_teacher: None,
    };
    let scratch = train_model(&ctx, flags, &train, &scratch_job, &out)?;
    results.push(finish_model(
        &ctx,
        &test,
        &out,
        "student-scratch",
        &scratch,
        &[],
    )?);

    let weighed = ready.weighed();
    let distill_job = TrainJob {
        name: "student-distilled",
        kd,
        teacher: ready.plain(),
        teachers: weighed.as_ref().map(|(t, config)| (t, *config)),
        ..scratch_job
    };
    let mut distilled = train_model(&ctx, flags, &train, &distill_job, &out)?;
    // The distilled student's time includes caching the teachers' logits.
    distilled.seconds += cache_seconds;
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
        batch_size: Some(flags.training.batch_size()),
        lr: Some(flags.training.lr()),
        temperature: Some(kd.temperature),
        alpha: Some(kd.alpha),
        // The live teacher's recipe (a loaded teacher's is its own).
        teacher_dropout: named.is_none().then_some(defaults::TEACHER_DROPOUT),
        teacher_jitter: named.is_none().then_some(teacher_jitter),
        teacher: inputs.first().map(|p| p.to_path_buf()),
        teachers: (inputs.len() > 1).then(|| inputs.iter().map(|p| p.to_path_buf()).collect()),
        teacher_weights: ready.describe(),
        kd_dropped: (!ready.dropped().is_empty()).then(|| ready.dropped().to_vec()),
        teacher_calibration: (!ready.calibration().is_empty())
            .then(|| ready.calibration().to_vec()),
        train_samples: Some(data.train.len()),
        test_samples: Some(data.test.len()),
        ..data_settings(&flags.data)
    };
    let report = write_run_report(&out, &ctx, &settings, &results)?;
    let [csv, html] = write_run_pages(&out, "run", &ctx, &settings, &results)?;
    println!(
        "T = {}, α = {}; weights, {}, {} and {} written to {}",
        kd.temperature,
        kd.alpha,
        file_name(&report),
        file_name(&html),
        file_name(&csv),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
