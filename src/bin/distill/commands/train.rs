//! `distill train`: a model trained with cross-entropy (a teacher, or a scratch baseline).

use std::process::ExitCode;

use distill_wgpu::{DeviceDataset, Dropout, KdConfig, MlpSpec, Result};

use crate::jobs::{finish_model, load_data, out_dir, print_table, sizes, train_model, TrainJob};
use crate::report::{write_run_report, Settings};
use crate::{defaults, open_context, Common, TrainArgs};

pub fn run(common: &Common, args: &TrainArgs) -> Result<ExitCode> {
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
    let spec = MlpSpec::relu(&sizes(data.train.features(), &hidden, data.classes))?;
    let job = TrainJob {
        name: "model",
        spec: &spec,
        epochs: common.epochs.unwrap_or(defaults::TEACHER_EPOCHS),
        kd: KdConfig::cross_entropy(),
        teacher: None,
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
    let settings = Settings {
        seed,
        dropout: Some(args.dropout),
        jitter: Some(args.jitter),
        epochs: Some(job.epochs),
        ..Settings::default()
    };
    write_run_report(&out, &ctx, settings, &results)?;
    Ok(ExitCode::SUCCESS)
}
