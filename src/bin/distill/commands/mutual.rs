//! `distill mutual`: deep mutual learning — N students trained together from the labels and
//! each other's softened outputs, each evaluated and saved.

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use distill_wgpu::train::{fit_mutual, MutualTrainer};
use distill_wgpu::{
    DeviceDataset, Error, KdConfig, Mlp, MlpSpec, Optimizer, Result, TrainerConfig,
};

use crate::flags::{DataFlags, GpuFlags, KdFlags, OutputFlags, TrainingFlags};
use crate::jobs::{data_settings, finish_model, load_data, print_table, publish, sizes};
use crate::output::{prepare, Resume};
use crate::report::Settings;
use crate::training::{TestErrors, Trained};
use crate::values::{self, HiddenList};
use crate::{defaults, open_context};

/// Mutual learning's defaults: Zhang et al. used T = 1 and a KL term of the same weight as
/// the cross-entropy, which α = 0.5 gives (at half the scale).
const TEMPERATURE: f32 = 1.0;
const ALPHA: f32 = 0.5;

/// `distill mutual` flags.
#[derive(Args, Debug)]
pub struct MutualArgs {
    /// Students trained together, at least 2; --hidden gives one architecture for all or one
    /// per student, separated by `;`.
    #[arg(long, default_value_t = 2, allow_hyphen_values = true)]
    students: usize,
    /// Hidden widths: one architecture for every student (e.g. 300,300) or one each,
    /// separated by `;` (e.g. "300,300;800,800").
    #[arg(long, value_name = "WIDTHS;…", allow_hyphen_values = true, value_parser = values::hidden_list)]
    hidden: Option<HiddenList>,
    /// Temperature and weight of the KL to the other students (default T = 1, α = 0.5).
    #[command(flatten)]
    kd: KdFlags,
    #[command(flatten)]
    gpu: GpuFlags,
    #[command(flatten)]
    data: DataFlags,
    #[command(flatten)]
    training: TrainingFlags,
    #[command(flatten)]
    output: OutputFlags,
}

/// Each student's hidden widths: one --hidden for all, one per student, or the default.
fn architectures(given: Option<&HiddenList>, students: usize) -> Result<Vec<Vec<usize>>> {
    let given = given.map(|h| h.0.clone());
    match given {
        None => Ok(vec![defaults::STUDENT_HIDDEN.to_vec(); students]),
        Some(list) if list.len() == 1 => Ok(vec![list[0].clone(); students]),
        Some(list) if list.len() == students => Ok(list),
        Some(list) => Err(Error::InvalidConfig(format!(
            "--hidden lists {} architectures for {students} students: give one, or one each",
            list.len()
        ))),
    }
}

/// Trains the students together and writes their weights and reports.
pub fn run(args: &MutualArgs) -> Result<ExitCode> {
    if args.students < 2 {
        return Err(Error::InvalidConfig(format!(
            "--students {}: mutual learning needs at least 2 students",
            args.students
        )));
    }
    let kd = args.kd.config_or(KdConfig {
        temperature: TEMPERATURE,
        alpha: ALPHA,
    })?;
    let archs = architectures(args.hidden.as_ref(), args.students)?;
    let data = load_data(&args.data)?;
    let names: Vec<String> = (1..=args.students).map(|k| format!("mutual-{k}")).collect();
    let out = prepare(&args.output, Resume::Unsupported)?;
    let ctx = open_context(&args.gpu, false)?;
    let seed = args.training.seed();
    let train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let students = archs
        .iter()
        .enumerate()
        .map(|(k, hidden)| {
            let spec = MlpSpec::relu(&sizes(data.train.features(), hidden, data.classes))?;
            Mlp::new(&ctx, &spec, seed + 1 + k as u64)
        })
        .collect::<Result<Vec<_>>>()?;
    let batch = args.training.batch_size();
    let lr = args.training.lr();
    let config = TrainerConfig::new(batch, Optimizer::adam(lr)).kd(kd);
    let mut trainer = MutualTrainer::new(&ctx, students, &config)?;
    trainer.attach_dataset(&ctx, &train, 0, seed as u32)?;
    let epochs = args.training.epochs.unwrap_or(defaults::EPOCHS);
    let start = Instant::now();
    let logs = fit_mutual(&ctx, &mut trainer, &train, (epochs, seed), |_, logs| {
        if !args.training.quiet {
            let losses: Vec<String> = logs
                .iter()
                .map(|l| format!("{:.4} (kl {:.4})", l.loss.total, l.loss.kl))
                .collect();
            eprintln!("epoch {:>3}: losses {}", logs[0].epoch, losses.join(", "));
        }
        Ok(())
    })?;
    let seconds = start.elapsed().as_secs_f64();
    let mut results = Vec::new();
    for ((name, model), logs) in names.iter().zip(trainer.into_students()).zip(logs) {
        let trained = Trained {
            model,
            logs,
            test_errors: TestErrors::new(),
            seconds,
        };
        let meta = [
            ("distill_wgpu.temperature", kd.temperature.to_string()),
            ("distill_wgpu.alpha", kd.alpha.to_string()),
        ];
        results.push(finish_model(&ctx, &test, &out, name, &trained, &meta)?);
    }
    print_table(&ctx, &results);
    let settings = Settings {
        seed,
        epochs: Some(epochs),
        temperature: Some(kd.temperature),
        alpha: Some(kd.alpha),
        objectives: Some(json!({ "mutual_students": args.students })),
        ..data_settings(&args.data)
    };
    publish(&out, &ctx, "mutual", &settings, &results)?;
    Ok(ExitCode::SUCCESS)
}
