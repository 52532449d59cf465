//! Checkpoints keep resuming across changes to how settings are recorded: a checkpoint written
//! before the run settings were typed and versioned (its trainer config recorded as `Debug`
//! text; `tests/data/legacy-settings-v1.ckpt.safetensors`, 2 epochs of the run below) resumes,
//! and finishes on exactly the weights a run of today makes without stopping — so the objective
//! refactor changed no bit of training either. Typed settings refuse what differs.

mod common;

use distill_wgpu::data::{bundled_dir, read_dir, DeviceDataset};
use distill_wgpu::session::{ExpectedSettings, RunOutcome, RunSettings, RunTeacher, TrainingRun};
use distill_wgpu::train::Checkpoint;
use distill_wgpu::{GpuContext, KdConfig, Mlp, MlpSpec, Optimizer, TrainerConfig};

const LEGACY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/legacy-settings-v1.ckpt.safetensors"
);

fn config() -> TrainerConfig {
    TrainerConfig::new(16, Optimizer::adam(2e-3)).kd(KdConfig {
        temperature: 3.0,
        alpha: 0.5,
    })
}

fn data(ctx: &GpuContext) -> (DeviceDataset, Mlp) {
    let data = read_dir(&bundled_dir()).unwrap();
    let train = DeviceDataset::new(ctx, &data.train.head(96), data.classes).unwrap();
    let teacher = Mlp::new(ctx, &MlpSpec::relu(&[784, 32, 10]).unwrap(), 9).unwrap();
    (train, teacher)
}

fn copy_of_legacy(name: &str) -> std::path::PathBuf {
    let dir = common::cli::temp_dir(name);
    let path = dir.join("student.safetensors");
    std::fs::copy(LEGACY, &path).unwrap();
    path
}

fn finished(ctx: &GpuContext, outcome: RunOutcome) -> Vec<f32> {
    let RunOutcome::Finished(trained) = outcome else {
        panic!("the run was cancelled")
    };
    trained.model.parameters(ctx).unwrap()
}

#[test]
fn the_legacy_record_is_what_the_typed_settings_render() {
    let checkpoint = Checkpoint::load(LEGACY.as_ref()).unwrap();
    let settings = RunSettings {
        version: RunSettings::VERSION,
        sizes: vec![784, 4, 10],
        config: config(),
        seed: 5,
        init_seed: None,
        init: false,
        jitter: 0,
        teacher: distill_wgpu::session::TeacherKind::Model,
    };
    assert_eq!(checkpoint.settings, settings.legacy());
    assert!(ExpectedSettings::Run(settings.clone()).matches(&checkpoint.settings));
    // Typed settings go through JSON and back unchanged, and a changed field is seen.
    let json = ExpectedSettings::Run(settings.clone()).to_json();
    assert_eq!(json["version"], 2);
    assert!(ExpectedSettings::Run(settings.clone()).matches(&json));
    let other = RunSettings {
        config: config().kd(KdConfig {
            temperature: 3.0,
            alpha: 0.25,
        }),
        ..settings.clone()
    };
    assert!(!ExpectedSettings::Run(other.clone()).matches(&json));
    assert!(!ExpectedSettings::Run(other).matches(&checkpoint.settings));
}

/// The checkpoint was written by the unrolled matmul family (before the subgroup family
/// existed); the first epochs' rounding is that family's, so the rest runs on it too, as on an
/// adapter without subgroups.
#[test]
fn a_checkpoint_from_before_typed_settings_resumes_to_the_same_weights() {
    let Some(unrolled) = common::open(distill_wgpu::ContextOptions {
        subgroups: false,
        ..distill_wgpu::ContextOptions::default()
    }) else {
        return;
    };
    let ctx = &unrolled;
    {
        let (train, teacher) = data(ctx);
        let run = |epochs: usize| {
            TrainingRun::new(&[4], config())
                .epochs(epochs)
                .seed(5)
                .teacher(RunTeacher::Model(&teacher))
        };
        let resumed = copy_of_legacy("legacy-resume");
        let continued = finished(
            ctx,
            run(3)
                .checkpoint(&resumed, true, false)
                .run(ctx, &train, |_| {})
                .unwrap(),
        );
        let straight = finished(ctx, run(3).run(ctx, &train, |_| {}).unwrap());
        assert_eq!(
            continued, straight,
            "resuming the old checkpoint changed the weights"
        );

        // Its successor checkpoint records typed, versioned settings.
        let rewritten = Checkpoint::load(&resumed).unwrap();
        assert_eq!(rewritten.settings["version"], 2);
        assert_eq!(rewritten.settings["config"]["objective"]["kind"], "kd");

        // Another objective is refused, naming both settings.
        let other = copy_of_legacy("legacy-refused");
        let err = TrainingRun::new(
            &[4],
            config().kd(KdConfig {
                temperature: 4.0,
                alpha: 0.5,
            }),
        )
        .epochs(3)
        .seed(5)
        .teacher(RunTeacher::Model(&teacher))
        .checkpoint(&other, true, false)
        .run(ctx, &train, |_| {})
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("resume with the same settings") && err.contains("temperature: 3.0"),
            "{err}"
        );
    }
}
