//! Objectives beyond the logits' KL in the trainer, each step's gradients checked against the
//! f64 reference's backpropagation: DKD (with its warm-up), a FitNets hint (hint-only stage
//! and joint), an EMA teacher (alone, beside a fixed teacher, its moving average), mutual
//! learning; checkpoints that carry their state; and bad settings' errors.

mod common;

use distill_wgpu::cpu;
use distill_wgpu::data::{Dataset, DeviceDataset};
use distill_wgpu::model::reference::{
    dense_backward, dense_forward, mlp_backward, mlp_forward, relu_backward,
};
use distill_wgpu::ops::dkd::reference::dkd_loss;
use distill_wgpu::ops::ema::ramped_decay;
use distill_wgpu::util::to_f64;
use distill_wgpu::{
    Activation, DkdConfig, DkdSchedule, EmaConfig, GpuContext, HintConfig, KdConfig, Mlp, MlpSpec,
    MutualTrainer, Optimizer, SplitMix64, StepBatch, TeacherLogits, TeacherSource, Trainer,
    TrainerConfig,
};

const ROWS: usize = 7;
const INPUTS: usize = 6;
const CLASSES: usize = 4;

/// A random host batch of `ROWS` rows.
fn batch(rng: &mut SplitMix64) -> (Vec<f32>, Vec<u32>) {
    let x = rng.uniform_vec(ROWS * INPUTS, -1.0, 1.0);
    let y = (0..ROWS).map(|_| rng.below(CLASSES) as u32).collect();
    (x, y)
}

fn sgd() -> TrainerConfig {
    TrainerConfig::new(
        ROWS,
        Optimizer::Sgd {
            lr: 0.05,
            momentum: 0.0,
            weight_decay: 0.0,
        },
    )
}

fn model(ctx: &GpuContext, sizes: &[usize], seed: u64) -> Mlp {
    Mlp::new(ctx, &MlpSpec::relu(sizes).unwrap(), seed).unwrap()
}

fn params(ctx: &GpuContext, m: &Mlp) -> Vec<f64> {
    to_f64(&m.parameters(ctx).unwrap())
}

/// Every gradient entry within 1e-4 of the largest, plus a floor.
fn assert_close(what: &str, got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let largest = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-4 * largest + 1e-7;
        assert!(
            (g as f64 - w).abs() <= tol,
            "{what}[{i}]: got {g:.9e}, want {w:.9e} (tolerance {tol:.2e})"
        );
    }
}

/// The reference parameter gradient of a student at `p` for the logits gradient `dlogits`
/// (a function of the student's logits).
fn backprop(
    spec: &MlpSpec,
    p: &[f64],
    x: &[f64],
    dlogits: impl FnOnce(&[f64]) -> Vec<f64>,
) -> Vec<f64> {
    let outputs = mlp_forward(spec, p, x, ROWS);
    let d = dlogits(outputs.last().unwrap());
    mlp_backward(spec, p, x, &outputs, &d, ROWS)
}

#[test]
fn dkd_step_gradients_follow_the_reference_through_its_warm_up() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(11);
        let (x, y) = batch(&mut rng);
        let t = rng.uniform_vec(ROWS * CLASSES, -4.0, 4.0);
        let student = model(ctx, &[INPUTS, 5, CLASSES], 3);
        let spec = student.spec().clone();
        let p0 = params(ctx, &student);
        let loss = DkdConfig { temperature: 4.0, target_weight: 1.0, non_target_weight: 8.0, ramp: 1.0 };
        let schedule = DkdSchedule { loss, warmup_epochs: 4 };
        let mut trainer = Trainer::new(ctx, student, &sgd().dkd(schedule)).unwrap();
        let step = StepBatch { inputs: &x, labels: &y, teacher: TeacherSource::Logits(&t) };
        // Epoch 1 of a 4-epoch warm-up: the KD weight is 1/4.
        trainer.step(ctx, &step).unwrap();
        let labels = y.clone();
        let want = backprop(&spec, &p0, &to_f64(&x), |z| {
            dkd_loss(z, &to_f64(&t), &labels, ROWS, CLASSES, 4.0, 1.0, 8.0, 0.25).grad
        });
        assert_close("DKD gradient at ramp 1/4", &trainer.read_gradients(ctx).unwrap(), &want);
        let p1 = params(ctx, trainer.student());
        trainer.begin_epoch(ctx, 9);
        trainer.step(ctx, &step).unwrap();
        let want = backprop(&spec, &p1, &to_f64(&x), |z| {
            dkd_loss(z, &to_f64(&t), &labels, ROWS, CLASSES, 4.0, 1.0, 8.0, 1.0).grad
        });
        assert_close("DKD gradient after warm-up", &trainer.read_gradients(ctx).unwrap(), &want);
    });
}

/// The hint's gradient on the student's first-layer pre-activations and its MSE, in f64:
/// student `[INPUTS, h, …]` hinted at hidden layer 1 by teacher hidden layer 1 through
/// regressor `r` (weights then bias), weight `beta`.
fn hint_reference(
    (student, p): (&MlpSpec, &[f64]),
    (teacher, tp): (&MlpSpec, &[f64]),
    r: &[f64],
    x: &[f64],
    beta: f64,
) -> (Vec<f64>, f64) {
    let hs = &mlp_forward(student, p, x, ROWS)[0];
    let ht = &mlp_forward(teacher, tp, x, ROWS)[0];
    let (ws, wt) = (student.sizes[1], teacher.sizes[1]);
    let (rw, rb) = r.split_at(ws * wt);
    let pred = dense_forward(hs, rw, rb, ROWS, ws, wt, Activation::Identity);
    let n = (ROWS * wt) as f64;
    let diff: Vec<f64> = pred.iter().zip(ht).map(|(a, b)| a - b).collect();
    let mse = diff.iter().map(|d| d * d).sum::<f64>() / n;
    let dr: Vec<f64> = diff.iter().map(|d| 2.0 * beta * d / n).collect();
    let dh = dense_backward(hs, rw, &dr, ROWS, ws, wt).input;
    (relu_backward(hs, &dh), mse)
}

/// The gradient of the first layer's parameters for a pre-activation gradient `dpre`.
fn first_layer(spec: &MlpSpec, x: &[f64], dpre: &[f64], p: &[f64]) -> Vec<f64> {
    let layer = spec.layers()[0];
    let w = &p[layer.weight_offset..layer.bias_offset];
    let g = dense_backward(x, w, dpre, ROWS, layer.inputs, layer.outputs);
    [g.weight, g.bias].concat()
}

#[test]
fn a_hint_adds_its_gradient_below_the_hinted_layer_and_alone_trains_only_those_layers() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(12);
        let (x, y) = batch(&mut rng);
        let teacher = model(ctx, &[INPUTS, 9, CLASSES], 5);
        let (tspec, tp) = (teacher.spec().clone(), params(ctx, &teacher));
        let logits = to_f64(&teacher.logits(ctx, &x, ROWS).unwrap());
        let kd = KdConfig { temperature: 2.0, alpha: 0.7 };
        let x64 = to_f64(&x);
        for stage_epochs in [1, 0] {
            let hint = HintConfig { teacher_layer: 1, student_layer: 1, weight: 0.5, stage_epochs };
            let student = model(ctx, &[INPUTS, 5, 4, CLASSES], 3);
            let spec = student.spec().clone();
            let p = params(ctx, &student);
            let mut trainer = Trainer::new(ctx, student, &sgd().kd(kd).hint(hint)).unwrap();
            trainer.attach_hint_teacher(ctx, &teacher, 8).unwrap();
            let r = params(ctx, trainer.hint_regressor().unwrap());
            trainer.step(ctx, &StepBatch { inputs: &x, labels: &y, teacher: TeacherSource::Mlp(&teacher) }).unwrap();
            let got = trainer.read_gradients(ctx).unwrap();
            let hint_only = stage_epochs == 1;
            let beta = if hint_only { 1.0 } else { 0.5 };
            let (dpre, mse) = hint_reference((&spec, &p), (&tspec, &tp), &r, &x64, beta);
            let hint_part = first_layer(&spec, &x64, &dpre, &p);
            let mut want = if hint_only {
                vec![0.0; spec.parameter_count()]
            } else {
                let labels = y.clone();
                backprop(&spec, &p, &x64, |z| cpu::kd_loss(z, &logits, &labels, ROWS, CLASSES, 2.0, 0.7).grad)
            };
            for (w, h) in want.iter_mut().zip(&hint_part) {
                *w += h;
            }
            assert_close(&format!("gradient, hint stage {stage_epochs}"), &got, &want);
            if hint_only {
                let upper = spec.layers()[1].weight_offset;
                assert!(got[upper..].iter().all(|&g| g == 0.0), "layers above the hint get nothing");
            }
            let window = trainer.take_window_loss(ctx).unwrap();
            let got_mse = window.hint_mse.expect("the hint's MSE is reported") as f64;
            assert!((got_mse - mse).abs() <= 1e-5 * mse + 1e-7, "hint MSE {got_mse} vs {mse}");
            assert_eq!(window.steps, 1);
        }
    });
}

#[test]
fn an_ema_teacher_teaches_from_the_first_step_and_follows_the_ramped_average() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(13);
        let student = model(ctx, &[INPUTS, 5, CLASSES], 4);
        let spec = student.spec().clone();
        let mut theta_ema = params(ctx, &student);
        let ema = EmaConfig { decay: 0.9, warmup_epochs: 0, update_every: 2 };
        let kd = KdConfig { temperature: 2.0, alpha: 0.6 };
        let mut trainer = Trainer::new(ctx, student, &sgd().kd(kd).ema(ema)).unwrap();
        for step in 1..=7u32 {
            let (x, y) = batch(&mut rng);
            let p = params(ctx, trainer.student());
            trainer.step(ctx, &StepBatch { inputs: &x, labels: &y, teacher: TeacherSource::None }).unwrap();
            // The EMA teacher's logits are the step's targets.
            let t = mlp_forward(&spec, &theta_ema, &to_f64(&x), ROWS).pop().unwrap();
            let labels = y.clone();
            let want = backprop(&spec, &p, &to_f64(&x), |z| cpu::kd_loss(z, &t, &labels, ROWS, CLASSES, 2.0, 0.6).grad);
            assert_close(&format!("gradient at step {step}"), &trainer.read_gradients(ctx).unwrap(), &want);
            if step % 2 == 0 {
                let d = ramped_decay(0.9, step / 2 - 1) as f64;
                let theta = params(ctx, trainer.student());
                for (e, s) in theta_ema.iter_mut().zip(&theta) {
                    *e += (1.0 - d) * (s - *e);
                }
            }
            let got = trainer.ema_teacher().unwrap().parameters(ctx).unwrap();
            assert_close(&format!("EMA parameters after step {step}"), &got, &theta_ema);
        }
        // The first update copies the student: ramped_decay(d, 0) = 0.
        assert_eq!(ramped_decay(0.9, 0), 0.0);
        assert_eq!(ramped_decay(0.9, 1000), 0.9);
    });
}

/// A data set of exactly one batch of 3×2 images, its host inputs and labels.
fn one_batch(ctx: &GpuContext, seed: u64) -> (DeviceDataset, Vec<f64>, Vec<u32>) {
    let data = Dataset::random(&mut SplitMix64::new(seed), ROWS, 3, 2, CLASSES);
    let device = DeviceDataset::new(ctx, &data, CLASSES).unwrap();
    let x = to_f64(&data.inputs_f32(0..ROWS));
    let y = data.labels.iter().map(|&l| l as u32).collect();
    (device, x, y)
}

#[test]
fn an_ema_teacher_beside_a_fixed_one_shares_the_kd_term_after_its_warm_up() {
    with_gpu!(ctx => {
        let (data, x, y) = one_batch(ctx, 14);
        let mut rng = SplitMix64::new(15);
        let fixed = rng.uniform_vec(ROWS * CLASSES, -3.0, 3.0);
        let logits = TeacherLogits::from_host(ctx, &data, &fixed).unwrap();
        let kd = KdConfig { temperature: 3.0, alpha: 0.8 };
        let ema = EmaConfig { decay: 0.5, warmup_epochs: 1, update_every: 1 };
        let student = model(ctx, &[INPUTS, 5, CLASSES], 6);
        let spec = student.spec().clone();
        let mut trainer = Trainer::new(ctx, student, &sgd().kd(kd).ema(ema)).unwrap();
        trainer.attach_dataset(ctx, &data, Some(&logits), 0, 1).unwrap();
        let fixed64 = to_f64(&fixed);
        for epoch in [1, 2] {
            trainer.begin_epoch(ctx, epoch);
            data.shuffle(ctx, epoch as u64);
            let p = params(ctx, trainer.student());
            let e = params(ctx, trainer.ema_teacher().unwrap());
            trainer.step_on_dataset(ctx, 0, None).unwrap();
            let labels = y.clone();
            let want = backprop(&spec, &p, &x, |z| {
                // Warm-up: the fixed teacher alone; after: half each (mixture of the two KLs).
                let fixed_term = cpu::kd_loss(z, &fixed64, &labels, ROWS, CLASSES, 3.0, 0.8).grad;
                if epoch == 1 {
                    return fixed_term;
                }
                let t_ema = mlp_forward(&spec, &e, &x, ROWS).pop().unwrap();
                let ema_term = cpu::kd_loss(z, &t_ema, &labels, ROWS, CLASSES, 3.0, 0.8).grad;
                fixed_term.iter().zip(&ema_term).map(|(a, b)| 0.5 * (a + b)).collect()
            });
            assert_close(&format!("gradient in epoch {epoch}"), &trainer.read_gradients(ctx).unwrap(), &want);
        }
        // A host batch cannot bring a second teacher.
        let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let e = trainer.step(ctx, &StepBatch { inputs: &xf, labels: &y, teacher: TeacherSource::Logits(&fixed) });
        assert!(e.unwrap_err().to_string().contains("EMA teacher"));
    });
}

#[test]
fn mutual_students_each_learn_from_the_others_outputs_of_the_same_batch() {
    with_gpu!(ctx => {
        let (data, x, y) = one_batch(ctx, 16);
        let kd = KdConfig { temperature: 2.0, alpha: 0.5 };
        let archs: [&[usize]; 3] = [&[INPUTS, 5, CLASSES], &[INPUTS, 3, CLASSES], &[INPUTS, 4, 4, CLASSES]];
        let students: Vec<Mlp> = archs.iter().zip(20..).map(|(a, s)| model(ctx, a, s)).collect();
        let specs: Vec<MlpSpec> = students.iter().map(|m| m.spec().clone()).collect();
        let p: Vec<Vec<f64>> = students.iter().map(|m| params(ctx, m)).collect();
        let logits: Vec<Vec<f64>> = specs.iter().zip(&p).map(|(s, p)| mlp_forward(s, p, &x, ROWS).pop().unwrap()).collect();
        let mut trainer = MutualTrainer::new(ctx, students, &sgd().kd(kd)).unwrap();
        trainer.attach_dataset(ctx, &data, 0, 3).unwrap();
        data.shuffle(ctx, 9);
        trainer.step_on_dataset(ctx, 0).unwrap();
        let after: Vec<Vec<f64>> = trainer.students().map(|m| params(ctx, m)).collect();
        for k in 0..3 {
            let labels = y.clone();
            let grad = backprop(&specs[k], &p[k], &x, |z| {
                // (1/(N − 1))·Σ over the peers: the mixture of their KL terms, half each.
                let peers: Vec<Vec<f64>> = (0..3).filter(|&l| l != k).map(|l| cpu::kd_loss(z, &logits[l], &labels, ROWS, CLASSES, 2.0, 0.5).grad).collect();
                peers[0].iter().zip(&peers[1]).map(|(a, b)| 0.5 * (a + b)).collect()
            });
            // SGD at lr 0.05 without momentum: the update is −0.05·gradient.
            let step: Vec<f32> = p[k].iter().zip(&after[k]).map(|(a, b)| ((a - b) / 0.05) as f32).collect();
            let largest = grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (i, (&g, &w)) in step.iter().zip(&grad).enumerate() {
                // The update is read through a parameter difference: a few ulps of the weights.
                let tol = 1e-3 * largest + 2e-5;
                assert!((g as f64 - w).abs() <= tol, "student {k} [{i}]: {g} vs {w}");
            }
        }
        let losses = trainer.take_window_losses(ctx).unwrap();
        assert!(losses.iter().all(|l| l.steps == 1 && l.loss.kl > 0.0), "{losses:?}");
    });
}

#[test]
fn checkpoints_carry_the_ema_teacher_and_the_hint_regressor() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(17);
        let teacher = model(ctx, &[INPUTS, 8, CLASSES], 2);
        let hint = HintConfig { teacher_layer: 1, student_layer: 1, weight: 0.3, stage_epochs: 0 };
        let ema = EmaConfig { decay: 0.8, warmup_epochs: 0, update_every: 1 };
        let config = TrainerConfig::new(ROWS, Optimizer::adam(1e-2)).kd(KdConfig { temperature: 2.0, alpha: 0.5 }).hint(hint).ema(ema);
        let build = || {
            let mut t = Trainer::new(ctx, model(ctx, &[INPUTS, 5, CLASSES], 9), &config).unwrap();
            t.attach_hint_teacher(ctx, &teacher, 4).unwrap();
            t
        };
        let batches: Vec<_> = (0..4).map(|_| batch(&mut rng)).collect();
        let step = |t: &mut Trainer, (x, y): &(Vec<f32>, Vec<u32>)| {
            t.step(ctx, &StepBatch { inputs: x, labels: y, teacher: TeacherSource::None }).unwrap();
        };
        let mut first = build();
        step(&mut first, &batches[0]);
        step(&mut first, &batches[1]);
        let state = first.state(ctx).unwrap();
        assert_eq!(state.auxiliary.len(), 5, "EMA teacher; regressor, its two moments, its loss slots");
        let mut second = build();
        second.restore(ctx, &state).unwrap();
        for b in &batches[2..] {
            step(&mut first, b);
            step(&mut second, b);
        }
        let read = |t: &Trainer| {
            (
                t.student().parameters(ctx).unwrap(),
                t.ema_teacher().unwrap().parameters(ctx).unwrap(),
                t.hint_regressor().unwrap().parameters(ctx).unwrap(),
            )
        };
        assert_eq!(read(&first), read(&second), "restored trainers continue bit for bit");
        // A state without the auxiliary tensors is refused.
        let mut bare = state.clone();
        bare.auxiliary.clear();
        assert!(build().restore(ctx, &bare).unwrap_err().to_string().contains("auxiliary"));
    });
}

#[test]
fn bad_settings_are_refused_with_the_reason() {
    with_gpu!(ctx => {
        let err = |r: distill_wgpu::Result<()>| r.unwrap_err().to_string();
        let one = MutualTrainer::new(ctx, vec![model(ctx, &[INPUTS, 3, CLASSES], 1)], &sgd());
        assert!(err(one.map(|_| ())).contains("2 to 9 students"));
        let mismatched = vec![model(ctx, &[INPUTS, 3, CLASSES], 1), model(ctx, &[INPUTS, 3, 5], 2)];
        assert!(err(MutualTrainer::new(ctx, mismatched, &sgd()).map(|_| ())).contains("differ"));
        let hint = HintConfig { teacher_layer: 1, student_layer: 3, weight: 1.0, stage_epochs: 0 };
        let mut t = Trainer::new(ctx, model(ctx, &[INPUTS, 5, 4, CLASSES], 1), &sgd().hint(hint)).unwrap();
        let teacher = model(ctx, &[INPUTS, 6, CLASSES], 2);
        assert!(err(t.attach_hint_teacher(ctx, &teacher, 1)).contains("hint layer 3 does not exist"));
        let hint = HintConfig { teacher_layer: 2, student_layer: 1, ..hint };
        let mut t = Trainer::new(ctx, model(ctx, &[INPUTS, 5, 4, CLASSES], 1), &sgd().hint(hint)).unwrap();
        assert!(err(t.attach_hint_teacher(ctx, &teacher, 1)).contains("teacher"));
        for beta in [-1.0, f32::NAN, f32::INFINITY] {
            let bad = HintConfig { weight: beta, ..hint };
            assert!(err(sgd().hint(bad).validate()).contains("hint weight"), "{beta}");
        }
        for decay in [0.0, 1.0, 1.5, -0.1, f32::NAN] {
            assert!(err(sgd().ema(EmaConfig::new(decay)).validate()).contains("decay"), "{decay}");
        }
        let every = EmaConfig { update_every: 0, ..EmaConfig::new(0.9) };
        assert!(err(sgd().ema(every).validate()).contains("at least 1"));
        let paper = DkdSchedule::paper();
        for (a, b) in [(-1.0, 8.0), (1.0, -8.0), (f32::NAN, 8.0), (1.0, f32::INFINITY)] {
            let loss = DkdConfig { target_weight: a, non_target_weight: b, ..paper.loss };
            assert!(sgd().dkd(DkdSchedule { loss, ..paper }).validate().is_err(), "{a} {b}");
        }
        // DKD needs a teacher.
        let mut t = Trainer::new(ctx, model(ctx, &[INPUTS, 3, CLASSES], 1), &sgd().dkd(paper)).unwrap();
        let (x, y) = batch(&mut SplitMix64::new(1));
        let r = t.step(ctx, &StepBatch { inputs: &x, labels: &y, teacher: TeacherSource::None });
        assert!(err(r).contains("needs"));
    });
}
