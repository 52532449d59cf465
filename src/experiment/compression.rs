//! Distillation and compression together: int8 quantization-aware training (from scratch and
//! with KD from the float teacher) and global magnitude pruning of a trained float student to
//! 50, 80 and 95 % sparsity, unrepaired and fine-tuned with and without KD; test errors, model
//! bytes and weight sparsity beside the float students.

use crate::data::DeviceDataset;
use crate::distill::TeacherLogits;
use crate::error::Result;
use crate::experiment::beyond::{baseline, Baseline, KD, SCRATCH, TEACHER};
use crate::experiment::lab::{Lab, Objective, Role};
use crate::experiment::{Data, Table};
use crate::model::int8::Int8Model;
use crate::model::prune::{
    dense_bytes, int8_bytes, prune_magnitude, sparse_bytes, weight_sparsity, Sparsity,
};
use crate::model::{Mlp, MlpSpec};
use crate::ops::dropout::Dropout;
use crate::ops::optim::Optimizer;
use crate::train::{fit, Compression, FitOptions, Quantization, Trainer, TrainerConfig};

/// Row names of the int8 students.
pub const INT8_SCRATCH: &str = "int8 QAT: scratch";
/// Row name of the int8 student distilled from the float teacher.
pub const INT8_KD: &str = "int8 QAT: KD";
/// The sparsities pruned to.
pub const SPARSITIES: [f64; 3] = [0.5, 0.8, 0.95];

/// The three rows of sparsity `s`: pruned and not repaired, fine-tuned on the labels,
/// fine-tuned with KD.
pub fn pruned_rows(sparsity: f64) -> [String; 3] {
    let percent = (sparsity * 100.0).round();
    [
        format!("pruned {percent} %: no fine-tuning"),
        format!("pruned {percent} %: fine-tuned, labels only"),
        format!("pruned {percent} %: fine-tuned with KD"),
    ]
}

/// Epochs of pruned fine-tuning: a third of the student's, rounded up.
pub fn finetune_epochs(student_epochs: usize) -> usize {
    student_epochs.div_ceil(3).max(1)
}

/// Columns: test errors, model bytes, weight sparsity (%).
const ERRORS: usize = 0;
const BYTES: usize = 1;
const SPARSITY: usize = 2;

pub(crate) fn run(lab: &mut Lab<'_>, data: &Data) -> Result<Table> {
    let mut table = Table::new(
        "compression",
        "int8 quantization-aware training and magnitude pruning, with and without KD",
        &[
            ("test errors", 1),
            ("model bytes", 0),
            ("weight sparsity %", 1),
        ],
    );
    let epochs = finetune_epochs(lab.scale.student.epochs);
    for &seed in &lab.scale.seeds.clone() {
        let base = baseline(lab, data, &mut table, seed)?;
        // The scratch student baseline() trained (recalled, not retrained).
        let key = lab.key("scratch", &base.train, seed);
        let scratch = lab.shared(("scratch", &key), |lab| {
            let objective = Objective::CrossEntropy;
            lab.train(
                "scratch",
                Role::Student,
                &base.train,
                objective,
                base.init,
                None,
            )
        })?;
        let float_bytes = dense_bytes(scratch.spec()) as f64;
        table.record(TEACHER, BYTES, dense_bytes(base.teacher.spec()) as f64);
        for row in [TEACHER, SCRATCH, KD] {
            table.record(row, SPARSITY, 0.0);
        }
        table.record(SCRATCH, BYTES, float_bytes);
        table.record(KD, BYTES, float_bytes);
        let int8 = Compression {
            quantize: Some(Quantization::Int8PerChannel),
            prune: None,
        };
        for (row, teacher) in [(INT8_SCRATCH, None), (INT8_KD, Some(&base.logits))] {
            let start = Start::Init(base.init);
            let epochs = lab.scale.student.epochs;
            let run = StudentRun {
                what: row,
                start,
                teacher,
                compression: int8,
                epochs,
                seed,
            };
            let trained = train(lab, &base, run)?;
            let params = trained.parameters(lab.ctx)?;
            let quantized = Int8Model::quantize(trained.spec(), &params)?;
            let model = Mlp::from_parameters(lab.ctx, trained.spec(), &quantized.dequantized())?;
            table.record(row, ERRORS, base.errors(lab, &model)?);
            table.record(row, BYTES, int8_bytes(trained.spec()) as f64);
            table.record(
                row,
                SPARSITY,
                100.0 * weight_sparsity(trained.spec(), &params),
            );
        }
        let trained = scratch.parameters(lab.ctx)?;
        let spec = scratch.spec().clone();
        for fraction in SPARSITIES {
            let sparsity = Sparsity::new(fraction)?;
            let pruned = prune_magnitude(&spec, &trained, sparsity)?;
            let [none, labels, kd] = pruned_rows(fraction);
            let unrepaired = Mlp::from_parameters(lab.ctx, &spec, &pruned.params)?;
            record_pruned(lab, &mut table, &base, &none, &unrepaired)?;
            let prune = Compression {
                quantize: None,
                prune: Some(sparsity),
            };
            for (row, teacher) in [(labels, None), (kd, Some(&base.logits))] {
                let start = Start::From(&spec, &pruned.params);
                let run = StudentRun {
                    what: &row,
                    start,
                    teacher,
                    compression: prune,
                    epochs,
                    seed,
                };
                let tuned = train(lab, &base, run)?;
                record_pruned(lab, &mut table, &base, &row, &tuned)?;
            }
        }
    }
    let kd = lab.scale.kd;
    table.notes.push(format!(
        "Int8: symmetric per-output-row scales, levels −127..=127, trained with the \
         straight-through estimator for the student's {} epochs and evaluated as the int8 file \
         dequantizes; bytes are the int8 tensors (a byte per weight, an f32 scale and bias per \
         row). Pruning: one global magnitude threshold over the weights of the scratch student, \
         biases kept, fine-tuned {epochs} epochs with the mask after every update; bytes are a \
         compressed-sparse-row estimate (f32 value and u16 column per nonzero weight, u32 row \
         starts, f32 biases); float students are dense f32. KD at T = {}, α = {}.",
        lab.scale.student.epochs, kd.temperature, kd.alpha
    ));
    Ok(table)
}

/// Records a pruned model's test errors, sparse bytes and sparsity.
fn record_pruned(
    lab: &Lab<'_>,
    table: &mut Table,
    base: &Baseline,
    row: &str,
    model: &Mlp,
) -> Result<()> {
    let params = model.parameters(lab.ctx)?;
    table.record(row, ERRORS, base.errors(lab, model)?);
    table.record(row, BYTES, sparse_bytes(model.spec(), &params) as f64);
    table.record(
        row,
        SPARSITY,
        100.0 * weight_sparsity(model.spec(), &params),
    );
    Ok(())
}

/// Where a compressed student starts.
enum Start<'a> {
    /// A fresh student of the scale's recipe, initialised with this seed.
    Init(u64),
    /// These parameters.
    From(&'a MlpSpec, &'a [f32]),
}

/// One compressed student to train: its row name, where it starts, its teacher's logits
/// (`None`: the labels only), its compression, epochs and seed.
struct StudentRun<'a> {
    what: &'a str,
    start: Start<'a>,
    teacher: Option<&'a TeacherLogits>,
    compression: Compression,
    epochs: usize,
    seed: u64,
}

/// Trains a student of the scale's recipe as `run` says, shuffled by its seed as the lab
/// shuffles.
fn train(lab: &mut Lab<'_>, base: &Baseline, run: StudentRun<'_>) -> Result<Mlp> {
    let StudentRun {
        what,
        start,
        teacher,
        compression,
        epochs,
        seed,
    } = run;
    let data: &DeviceDataset = &base.train;
    (lab.progress)(&format!(
        "  {what}: {epochs} epochs on {} samples (seed {seed})",
        data.len()
    ));
    let recipe = &lab.scale.student;
    let model = match start {
        Start::Init(init) => {
            let sizes: Vec<usize> = std::iter::once(data.features())
                .chain(recipe.hidden.iter().copied())
                .chain(std::iter::once(data.classes()))
                .collect();
            Mlp::new(lab.ctx, &MlpSpec::relu(&sizes)?, init)?
        }
        Start::From(spec, params) => Mlp::from_parameters(lab.ctx, spec, params)?,
    };
    let mut config = TrainerConfig::new(lab.scale.batch_size, Optimizer::adam(lab.scale.lr))
        .dropout(Dropout {
            p: recipe.dropout,
            seed: seed as u32,
        })
        .compression(compression);
    if teacher.is_some() {
        config = config.kd(lab.scale.kd);
    }
    let mut trainer = Trainer::new(lab.ctx, model, &config)?;
    let data_seed = seed as u32 ^ 0x5eed;
    trainer.attach_dataset(lab.ctx, data, teacher, recipe.jitter, data_seed)?;
    let options = FitOptions::new(epochs, seed);
    fit(
        lab.ctx,
        &mut trainer,
        data,
        options,
        None,
        || {},
        |_, _| Ok(()),
    )?;
    Ok(trainer.into_student())
}
