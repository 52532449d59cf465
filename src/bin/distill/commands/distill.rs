//! `distill distill`: a student distilled from a saved teacher.

use std::path::Path;
use std::process::ExitCode;

use distill_wgpu::model::io;
use distill_wgpu::{DeviceDataset, Dropout, Mlp, MlpSpec, Result, TeacherLogits};

use crate::jobs::{
    finish_model, kd_from, load_data, out_dir, print_table, sizes, train_model, TrainJob,
};
use crate::report::{write_run_report, Settings};
use crate::{defaults, open_context, Common};

pub fn run(common: &Common, teacher_path: &Path) -> Result<ExitCode> {
    let data = load_data(common)?;
    let ctx = open_context(common)?;
    let (spec, params) = io::load(teacher_path)?;
    let teacher = Mlp::from_parameters(&ctx, &spec, &params)?;
    let out = out_dir(common)?;
    let seed = common.seed.unwrap_or(defaults::SEED);
    let kd = kd_from(common)?;
    let train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let teacher_logits = TeacherLogits::compute(&ctx, &teacher, &train, 512)?;
    let hidden = common
        .hidden
        .clone()
        .unwrap_or_else(|| defaults::STUDENT_HIDDEN.to_vec());
    let student_spec = MlpSpec::relu(&sizes(data.train.features(), &hidden, data.classes))?;
    let job = TrainJob {
        name: "student",
        spec: &student_spec,
        epochs: common.epochs.unwrap_or(defaults::EPOCHS),
        kd,
        teacher: Some(&teacher_logits),
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
    let settings = Settings {
        seed,
        teacher: Some(teacher_path.to_path_buf()),
        temperature: Some(kd.temperature),
        alpha: Some(kd.alpha),
        ..Settings::default()
    };
    write_run_report(&out, &ctx, settings, &results)?;
    Ok(ExitCode::SUCCESS)
}
