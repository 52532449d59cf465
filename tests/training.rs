//! Whole-step checks: GPU gradients of a 2-hidden-layer student through the KD loss match the
//! CPU reference, and GPU training tracks the CPU-reference trajectory (SGD and AdamW), on both
//! matmul families.

mod common;

use distill_wgpu::validate::{compare, random_vec, Tolerance};
use distill_wgpu::SplitMix64;
use distill_wgpu::{
    cpu, Error, GpuContext, KdConfig, Mlp, MlpSpec, Optimizer, StepBatch, TeacherSource, Trainer,
    TrainerConfig,
};

/// A small synthetic problem: 3 Gaussian-ish clusters in 12 dimensions.
struct Problem {
    inputs: Vec<f32>,
    labels: Vec<u32>,
    teacher: Vec<f32>,
    rows: usize,
}

impl Problem {
    /// Inputs, labels and teacher logits of the batch a trajectory uses at `step`.
    fn batch(
        &self,
        step: usize,
        batch: usize,
        features: usize,
        classes: usize,
    ) -> (&[f32], &[u32], &[f32]) {
        let start = (step * batch) % self.rows;
        (
            &self.inputs[start * features..(start + batch) * features],
            &self.labels[start..start + batch],
            &self.teacher[start * classes..(start + batch) * classes],
        )
    }
}

fn problem(rows: usize, classes: usize, features: usize, seed: u64) -> Problem {
    let mut rng = SplitMix64::new(seed);
    let centers = random_vec(&mut rng, classes * features, -1.0, 1.0);
    let mut inputs = Vec::with_capacity(rows * features);
    let mut labels = Vec::with_capacity(rows);
    for _ in 0..rows {
        let y = rng.below(classes);
        labels.push(y as u32);
        for f in 0..features {
            inputs.push(centers[y * features + f] + 0.3 * (rng.next_f64() as f32 - 0.5));
        }
    }
    // A "teacher" that is confident about the right class with some dark knowledge.
    let teacher = (0..rows * classes)
        .map(|i| {
            if labels[i / classes] as usize == i % classes {
                4.0
            } else {
                (i % 3) as f32 * 0.5
            }
        })
        .collect();
    Problem {
        inputs,
        labels,
        teacher,
        rows,
    }
}

fn contexts() -> Vec<&'static GpuContext> {
    [common::gpu(), common::gpu_other_family()]
        .into_iter()
        .flatten()
        .collect()
}

#[test]
fn gpu_step_gradients_match_cpu_reference() {
    with_gpu!(_ctx => {
        for ctx in contexts() {
            let spec = MlpSpec::relu(&[12, 20, 9, 3]).unwrap();
            let p = problem(13, 3, 12, 1);
            let params = spec.init_parameters(42);
            let student = Mlp::from_parameters(ctx, &spec, &params).unwrap();
            let kd = KdConfig { temperature: 3.0, alpha: 0.6 };
            let mut trainer = Trainer::new(ctx, student, &TrainerConfig::new(p.rows, Optimizer::Sgd { lr: 0.1, momentum: 0.0, weight_decay: 0.0 }).kd(kd)).unwrap();
            trainer.step(ctx, &StepBatch { inputs: &p.inputs, labels: &p.labels, teacher: TeacherSource::Logits(&p.teacher) }).unwrap();
            let got = trainer.read_gradients(ctx).unwrap();
            let (out, expected) = cpu::kd_step_gradients(&spec, &cpu::to_f64(&params), &cpu::to_f64(&p.inputs), &p.labels, &cpu::to_f64(&p.teacher), p.rows, 3.0, 0.6);
            for (l, layer) in spec.layers().iter().enumerate() {
                let w = layer.weight_offset..layer.bias_offset;
                let b = layer.bias_offset..layer.bias_offset + layer.outputs;
                let tol = Tolerance::new(2e-6, 1e-4);
                compare(&format!("{:?} layer {l} dW", ctx.matmul_family()), &got[w.clone()], &expected[w], tol).assert_ok();
                compare(&format!("{:?} layer {l} db", ctx.matmul_family()), &got[b.clone()], &expected[b], tol).assert_ok();
            }
            let loss = trainer.read_loss(ctx).unwrap();
            compare("loss", &[loss.total, loss.ce, loss.kl], &[out.loss, out.ce, out.kl], Tolerance::new(1e-5, 1e-5)).assert_ok();
        }
    });
}

/// Batch size, step count, loss and optimizer of a trajectory.
#[derive(Clone, Copy)]
struct Schedule {
    batch: usize,
    steps: usize,
    kd: KdConfig,
    optimizer: Optimizer,
}

fn cpu_trajectory(
    spec: &MlpSpec,
    params: &[f32],
    p: &Problem,
    schedule: Schedule,
) -> (Vec<f64>, Vec<f64>) {
    let Schedule {
        batch,
        steps,
        kd,
        optimizer,
    } = schedule;
    let mut w = cpu::to_f64(params);
    let mut state = vec![vec![0.0; w.len()]; 2];
    let mut losses = Vec::new();
    let features = spec.inputs();
    let classes = spec.classes();
    for step in 0..steps {
        let (inputs, y, teacher) = p.batch(step, batch, features, classes);
        let x = cpu::to_f64(inputs);
        let t = cpu::to_f64(teacher);
        let (out, g) = cpu::kd_step_gradients(
            spec,
            &w,
            &x,
            y,
            &t,
            batch,
            kd.temperature as f64,
            kd.alpha as f64,
        );
        losses.push(out.loss);
        cpu::optimizer_step(optimizer, step as u32 + 1, &mut w, &g, &mut state);
    }
    (w, losses)
}

fn gpu_trajectory(
    ctx: &GpuContext,
    spec: &MlpSpec,
    params: &[f32],
    p: &Problem,
    schedule: Schedule,
) -> (Vec<f32>, Vec<f32>) {
    let Schedule {
        batch,
        steps,
        kd,
        optimizer,
    } = schedule;
    let student = Mlp::from_parameters(ctx, spec, params).unwrap();
    let mut trainer =
        Trainer::new(ctx, student, &TrainerConfig::new(batch, optimizer).kd(kd)).unwrap();
    let features = spec.inputs();
    let classes = spec.classes();
    let mut losses = Vec::new();
    for step in 0..steps {
        let (inputs, labels, teacher) = p.batch(step, batch, features, classes);
        trainer
            .step(
                ctx,
                &StepBatch {
                    inputs,
                    labels,
                    teacher: TeacherSource::Logits(teacher),
                },
            )
            .unwrap();
        if step % 25 == 0 || step + 1 == steps {
            losses.push(trainer.read_loss(ctx).unwrap().total);
        }
    }
    assert_eq!(trainer.steps_taken() as usize, steps);
    (trainer.student().parameters(ctx).unwrap(), losses)
}

fn check_trajectory(optimizer: Optimizer, steps: usize) {
    let spec = MlpSpec::relu(&[12, 16, 16, 3]).unwrap();
    let p = problem(96, 3, 12, 2);
    let params = spec.init_parameters(7);
    let kd = KdConfig {
        temperature: 2.0,
        alpha: 0.5,
    };
    let batch = 16;
    let schedule = Schedule {
        batch,
        steps,
        kd,
        optimizer,
    };
    let (cpu_params, cpu_losses) = cpu_trajectory(&spec, &params, &p, schedule);
    for ctx in contexts() {
        let (gpu_params, gpu_losses) = gpu_trajectory(ctx, &spec, &params, &p, schedule);
        let expected_losses: Vec<f64> = (0..steps)
            .filter(|s| s % 25 == 0 || s + 1 == steps)
            .map(|s| cpu_losses[s])
            .collect();
        compare(
            &format!("{optimizer:?} {:?} loss trajectory", ctx.matmul_family()),
            &gpu_losses,
            &expected_losses,
            Tolerance::new(1e-3, 1e-3),
        )
        .assert_ok();
        compare(
            &format!("{optimizer:?} {:?} final parameters", ctx.matmul_family()),
            &gpu_params,
            &cpu_params,
            Tolerance::new(2e-3, 1e-2),
        )
        .assert_ok();
        let first = gpu_losses[0];
        let last = *gpu_losses.last().unwrap();
        assert!(
            last < 0.5 * first,
            "{optimizer:?}: loss did not fall enough: {first} → {last}"
        );
    }
}

#[test]
fn sgd_training_tracks_cpu_trajectory_and_lowers_loss() {
    with_gpu!(_ctx => {
        check_trajectory(Optimizer::Sgd { lr: 0.2, momentum: 0.9, weight_decay: 1e-4 }, 300);
    });
}

#[test]
fn adamw_training_tracks_cpu_trajectory_and_lowers_loss() {
    with_gpu!(_ctx => {
        check_trajectory(Optimizer::AdamW { lr: 3e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-2 }, 300);
    });
}

#[test]
fn teacher_mlp_source_equals_precomputed_logits() {
    with_gpu!(ctx => {
        let teacher_spec = MlpSpec::relu(&[12, 24, 3]).unwrap();
        let student_spec = MlpSpec::relu(&[12, 8, 3]).unwrap();
        let p = problem(10, 3, 12, 3);
        let teacher = Mlp::new(ctx, &teacher_spec, 5).unwrap();
        let logits = teacher.logits(ctx, &p.inputs, p.rows).unwrap();
        let expected = cpu::mlp_logits(&teacher_spec, &cpu::to_f64(&teacher.parameters(ctx).unwrap()), &cpu::to_f64(&p.inputs), p.rows);
        compare("teacher logits", &logits, &expected, Tolerance::new(1e-5, 1e-4)).assert_ok();
        let kd = KdConfig { temperature: 4.0, alpha: 0.9 };
        let opt = Optimizer::adam(1e-2);
        let run = |source: TeacherSource<'_>| {
            let mut t = Trainer::new(ctx, Mlp::new(ctx, &student_spec, 1).unwrap(), &TrainerConfig::new(p.rows, opt).kd(kd)).unwrap();
            for _ in 0..3 {
                t.step(ctx, &StepBatch { inputs: &p.inputs, labels: &p.labels, teacher: source }).unwrap();
            }
            t.student().parameters(ctx).unwrap()
        };
        let via_model = run(TeacherSource::Mlp(&teacher));
        let via_logits = run(TeacherSource::Logits(&logits));
        assert_eq!(via_model, via_logits, "teacher forward in the step differs from precomputed logits");
    });
}

#[test]
fn same_seed_gives_identical_bits() {
    with_gpu!(ctx => {
        let spec = MlpSpec::relu(&[12, 16, 3]).unwrap();
        let p = problem(32, 3, 12, 4);
        let run = || {
            let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 9).unwrap(), &TrainerConfig::new(32, Optimizer::adam(1e-2)).kd(KdConfig { temperature: 2.0, alpha: 0.5 })).unwrap();
            for _ in 0..5 {
                t.step(ctx, &StepBatch { inputs: &p.inputs, labels: &p.labels, teacher: TeacherSource::Logits(&p.teacher) }).unwrap();
            }
            (t.student().parameters(ctx).unwrap(), t.read_loss(ctx).unwrap())
        };
        let (a, la) = run();
        let (b, lb) = run();
        assert_eq!(a, b);
        assert_eq!(la, lb);
    });
}

#[test]
fn epoch_mean_loss_is_accumulated_on_the_gpu() {
    with_gpu!(ctx => {
        let spec = MlpSpec::relu(&[12, 8, 3]).unwrap();
        let p = problem(8, 3, 12, 5);
        let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 1).unwrap(), &TrainerConfig::new(8, Optimizer::adam(1e-2)).kd(KdConfig::cross_entropy())).unwrap();
        let mut sum = 0.0;
        for _ in 0..4 {
            t.step(ctx, &StepBatch { inputs: &p.inputs, labels: &p.labels, teacher: TeacherSource::None }).unwrap();
            sum += t.read_loss(ctx).unwrap().total;
        }
        let (mean, steps) = t.take_mean_loss(ctx).unwrap();
        assert_eq!(steps, 4);
        assert!((mean.total - sum / 4.0).abs() < 1e-6, "{} vs {}", mean.total, sum / 4.0);
        let (_, steps_after_reset) = t.take_mean_loss(ctx).unwrap();
        assert_eq!(steps_after_reset, 0);
    });
}

#[test]
fn bad_batches_get_typed_errors() {
    with_gpu!(ctx => {
        let spec = MlpSpec::relu(&[4, 5, 3]).unwrap();
        let mut t = Trainer::new(ctx, Mlp::new(ctx, &spec, 1).unwrap(), &TrainerConfig::new(2, Optimizer::adam(1e-3)).kd(KdConfig { temperature: 2.0, alpha: 0.5 })).unwrap();
        let x = [0.5f32; 8];
        let teacher = [0.0f32; 6];
        let step = |t: &mut Trainer, x: &[f32], y: &[u32], te: TeacherSource<'_>| t.step(ctx, &StepBatch { inputs: x, labels: y, teacher: te }).unwrap_err();
        assert!(matches!(step(&mut t, &x[..7], &[0, 1], TeacherSource::Logits(&teacher)), Error::ShapeMismatch { expected: 8, got: 7, .. }));
        assert!(matches!(step(&mut t, &x, &[0, 3], TeacherSource::Logits(&teacher)), Error::LabelOutOfRange { row: 1, label: 3, classes: 3 }));
        let mut nan = x;
        nan[5] = f32::NAN;
        assert!(matches!(step(&mut t, &nan, &[0, 1], TeacherSource::Logits(&teacher)), Error::NonFinite { index: 5, .. }));
        let mut inf_teacher = teacher;
        inf_teacher[2] = f32::INFINITY;
        assert!(matches!(step(&mut t, &x, &[0, 1], TeacherSource::Logits(&inf_teacher)), Error::NonFinite { .. }));
        assert!(matches!(step(&mut t, &x, &[0, 1], TeacherSource::None), Error::InvalidConfig(_)));
        let wrong_teacher = Mlp::new(ctx, &MlpSpec::relu(&[4, 5, 7]).unwrap(), 1).unwrap();
        assert!(matches!(step(&mut t, &x, &[0, 1], TeacherSource::Mlp(&wrong_teacher)), Error::InvalidConfig(_)));
        assert!(matches!(t.set_kd_config(ctx, KdConfig { temperature: 0.0, alpha: 0.5 }), Err(Error::InvalidTemperature(_))));
        assert!(matches!(t.set_kd_config(ctx, KdConfig { temperature: 1.0, alpha: 2.0 }), Err(Error::InvalidAlpha(_))));
        // None of the rejected steps ran.
        assert_eq!(t.steps_taken(), 0);
        assert!(matches!(Trainer::new(ctx, Mlp::new(ctx, &spec, 1).unwrap(), &TrainerConfig::new(0, Optimizer::adam(1e-3)).kd(KdConfig::cross_entropy())), Err(Error::EmptyBatch)));
        assert!(matches!(MlpSpec::relu(&[4, 0, 3]), Err(Error::InvalidConfig(_))));
        assert!(matches!(Mlp::from_parameters(ctx, &spec, &[0.0; 3]), Err(Error::ShapeMismatch { .. })));
    });
}

#[test]
fn sizes_past_device_limits_are_reported() {
    with_gpu!(ctx => {
        let huge = ctx.limits().max_storage_buffer_binding_size as usize / 4 + 1;
        let spec = MlpSpec::relu(&[huge, 1]).unwrap();
        let err = Trainer::new(ctx, match Mlp::new(ctx, &spec, 0) { Ok(m) => m, Err(e) => {
            assert!(matches!(e, Error::ExceedsLimit { .. }), "{e}");
            return;
        }}, &TrainerConfig::new(1, Optimizer::adam(1e-3)).kd(KdConfig::cross_entropy())).unwrap_err();
        assert!(matches!(err, Error::ExceedsLimit { .. }), "{err}");
    });
}

#[test]
fn dropout_step_gradients_match_cpu_reference_with_the_same_mask() {
    with_gpu!(_ctx => {
        for ctx in contexts() {
            let spec = MlpSpec::relu(&[12, 20, 9, 3]).unwrap();
            let p = problem(13, 3, 12, 21);
            let params = spec.init_parameters(4);
            let dropout = distill_wgpu::Dropout { p: 0.4, seed: 77 };
            let student = Mlp::from_parameters(ctx, &spec, &params).unwrap();
            let kd = KdConfig { temperature: 2.0, alpha: 0.5 };
            let mut trainer = Trainer::new(ctx, student, &TrainerConfig::new(p.rows, Optimizer::Sgd { lr: 0.1, momentum: 0.0, weight_decay: 0.0 }).kd(kd).dropout(dropout)).unwrap();
            trainer.step(ctx, &StepBatch { inputs: &p.inputs, labels: &p.labels, teacher: TeacherSource::Logits(&p.teacher) }).unwrap();
            let got = trainer.read_gradients(ctx).unwrap();
            let w = cpu::to_f64(&params);
            let x = cpu::to_f64(&p.inputs);
            // The first step is optimizer step 1.
            let outputs = cpu::mlp_forward_dropout(&spec, &w, &x, p.rows, (dropout.p, dropout.seed, 1));
            let dropped = outputs[0].iter().filter(|v| **v == 0.0).count();
            assert!(dropped > 0, "no unit dropped");
            let kd_out = cpu::kd_loss(outputs.last().unwrap(), &cpu::to_f64(&p.teacher), &p.labels, p.rows, 3, 2.0, 0.5);
            let expected = cpu::mlp_backward_scaled(&spec, &w, &x, &outputs, &kd_out.grad, p.rows, 1.0 / (1.0 - dropout.p as f64));
            compare(&format!("{:?} dropout gradients", ctx.matmul_family()), &got, &expected, Tolerance::new(2e-6, 1e-4)).assert_ok();
        }
    });
}
