//! An app that trains a distilled student through the library's `TrainingRun`, with its own
//! progress display, then shows cancellation and resuming from a checkpoint.
//!
//! `cargo run --example embed` (about 300 training samples of the bundled MNIST subset, the
//! bundled teacher, a 64-unit student, four epochs).

use std::io::Write;

use distill_wgpu::data::{bundled_dir, read_dir, DeviceDataset};
use distill_wgpu::model::io;
use distill_wgpu::session::{CancelToken, Progress, RunOutcome, RunTeacher, TrainingRun};
use distill_wgpu::{ContextOptions, GpuContext, KdConfig, Mlp, Optimizer, TrainerConfig};

const EPOCHS: usize = 4;

fn main() -> distill_wgpu::Result<()> {
    let ctx = GpuContext::new(&ContextOptions::default())?;
    println!("adapter: {}", ctx.describe());
    let data = read_dir(&bundled_dir())?;
    let train = DeviceDataset::new(&ctx, &data.train.head(320), data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test.head(200), data.classes)?;
    let teacher_file = io::load_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models/teacher-mnist10k.safetensors"),
    )?;
    let teacher = Mlp::from_parameters(&ctx, &teacher_file.spec, &teacher_file.params)?;

    let config = TrainerConfig::new(16, Optimizer::adam(3e-3)).kd(KdConfig {
        temperature: 4.0,
        alpha: 0.9,
    });
    let run = TrainingRun::new(&[64], config)
        .epochs(EPOCHS)
        .seed(3)
        .teacher(RunTeacher::Model(&teacher))
        .test_set(&test);

    // 1. A whole run, with a step counter on one line and a line per epoch.
    let outcome = run.run(&ctx, &train, |event| match event {
        Progress::Step {
            epoch,
            step,
            steps_per_epoch,
        } => {
            print!("\rstep {step}/{steps_per_epoch} of epoch {epoch}");
            let _ = std::io::stdout().flush();
        }
        Progress::Epoch {
            log,
            test_errors,
            epochs,
        } => println!(
            "\repoch {}/{epochs} loss {:.4} (ce {:.4}, kl {:.4}), test errors {}",
            log.epoch,
            log.loss.total,
            log.loss.ce,
            log.loss.kl,
            test_errors.map_or("-".into(), |e| e.to_string())
        ),
        Progress::Checkpoint { .. } => {}
    })?;
    let RunOutcome::Finished(whole) = outcome else {
        unreachable!("nothing cancels the first run")
    };
    let errors = whole.test_errors.get(&EPOCHS).copied().unwrap_or(0);
    println!(
        "distilled student {:?}: {errors} test errors in 200 after {EPOCHS} epochs ({:.1} s)",
        whole.model.spec().sizes,
        whole.seconds
    );

    // 2. The same run with a checkpoint, cancelled from the callback halfway through epoch 2.
    let dir = std::env::temp_dir().join(format!("distill-embed-{}", std::process::id()));
    let checkpoint = dir.join("student.safetensors");
    let token = CancelToken::new();
    let cancel = token.clone();
    let outcome = run
        .clone()
        .checkpoint(&checkpoint, true, false)
        .cancel_token(token.clone())
        .run(&ctx, &train, |event| {
            if let Progress::Step {
                epoch: 2, step: 5, ..
            } = event
            {
                cancel.cancel();
            }
        })?;
    let RunOutcome::Cancelled { position, .. } = outcome else {
        unreachable!("the callback cancels the second run")
    };
    println!(
        "cancelled at epoch {} batch {}, checkpoint {}",
        position.epoch,
        position.batch,
        checkpoint.display()
    );

    // 3. Resume it to the end: the same steps in the same order, so the same weights.
    token.reset();
    let outcome = run
        .checkpoint(&checkpoint, true, false)
        .run(&ctx, &train, |_| {})?;
    let RunOutcome::Finished(resumed) = outcome else {
        unreachable!("nothing cancels the resumed run")
    };
    let same = resumed.model.parameters(&ctx)? == whole.model.parameters(&ctx)?;
    println!(
        "resumed to epoch {}: {} test errors, weights identical to the uninterrupted run: {same}",
        resumed.logs.len(),
        resumed.test_errors.get(&EPOCHS).copied().unwrap_or(0)
    );
    let _ = std::fs::remove_dir_all(&dir);
    if !same {
        return Err(distill_wgpu::Error::InvalidConfig(
            "the resumed run's weights differ from the uninterrupted run's".into(),
        ));
    }
    Ok(())
}
