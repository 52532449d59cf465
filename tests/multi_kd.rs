//! The multi-teacher, partial-class KD loss: equivalences with the single-teacher loss, the
//! mixture's gradient, routing, rows no teacher knows, central finite differences of the
//! reference, the GPU against the reference (suite and a seeded sweep), typed errors for bad
//! input, and determinism (the shader's naga portability: `tests/shaders.rs`).

mod common;

use common::{assert_all_ok, numeric_grad};
use distill_wgpu::cpu;
use distill_wgpu::ops::check::random_vec;
use distill_wgpu::ops::kd_loss::{self, KdBatch};
use distill_wgpu::ops::multi_kd::check::{self as mcheck, random_masks, Masks, WEIGHT_MODES};
use distill_wgpu::ops::multi_kd::{
    self, Combine, MultiKdBatch, MultiKdConfig, MultiKdOutput, WeightMode, MAX_TEACHERS,
};
use distill_wgpu::validate::summarize;
use distill_wgpu::{Error, GpuContext, KdConfig, SplitMix64};

/// An owned batch.
#[derive(Clone)]
struct Case {
    z: Vec<f32>,
    t: Vec<f32>,
    known: Vec<u32>,
    base: Vec<f32>,
    labels: Vec<u32>,
    rows: usize,
    cols: usize,
    k: usize,
}

impl Case {
    fn random(
        rng: &mut SplitMix64,
        (rows, cols, k): (usize, usize, usize),
        known: Vec<u32>,
    ) -> Self {
        Self {
            z: random_vec(rng, rows * cols, -5.0, 5.0),
            t: random_vec(rng, rows * k * cols, -5.0, 5.0),
            known,
            base: random_vec(rng, k, 0.1, 1.0),
            labels: (0..rows).map(|_| rng.below(cols) as u32).collect(),
            rows,
            cols,
            k,
        }
    }

    fn batch(&self) -> MultiKdBatch<'_> {
        MultiKdBatch {
            student: &self.z,
            teachers: &self.t,
            known: &self.known,
            base_weights: &self.base,
            labels: &self.labels,
            rows: self.rows,
            cols: self.cols,
            teacher_count: self.k,
            gates: None,
        }
    }

    fn gpu(&self, ctx: &GpuContext, config: MultiKdConfig) -> MultiKdOutput<f32> {
        multi_kd::multi_kd(ctx, &self.batch(), config).unwrap()
    }

    /// The reference at `z` (f64, so finite differences can move it).
    fn reference_at(&self, z: &[f64], config: MultiKdConfig) -> MultiKdOutput<f64> {
        let (t, base) = (cpu::to_f64(&self.t), cpu::to_f64(&self.base));
        let batch = MultiKdBatch {
            student: z,
            teachers: &t,
            known: &self.known,
            base_weights: &base,
            labels: &self.labels,
            rows: self.rows,
            cols: self.cols,
            teacher_count: self.k,
            gates: None,
        };
        cpu::multi_kd(
            &batch,
            config.temperature as f64,
            config.alpha as f64,
            config.weights,
            config.combine,
        )
    }

    fn reference(&self, config: MultiKdConfig) -> MultiKdOutput<f64> {
        self.reference_at(&cpu::to_f64(&self.z), config)
    }
}

fn config(temperature: f32, alpha: f32, weights: WeightMode, combine: Combine) -> MultiKdConfig {
    MultiKdConfig {
        temperature,
        alpha,
        weights,
        combine,
    }
}

fn max_diff<A: Copy + Into<f64>, B: Copy + Into<f64>>(a: &[A], b: &[B]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (x.into() - y.into()).abs())
        .fold(0.0, f64::max)
}

/// Softmax of `x / T` over the classes `known` marks, 0 elsewhere.
fn masked_softmax(x: &[f32], known: &[u32], t: f32) -> Vec<f64> {
    let subset: Vec<f64> = x
        .iter()
        .zip(known)
        .filter(|(_, &m)| m == 1)
        .map(|(&v, _)| v as f64)
        .collect();
    let lse = cpu::log_sum_exp(&subset, t as f64);
    x.iter()
        .zip(known)
        .map(|(&v, &m)| {
            if m == 1 {
                (v as f64 / t as f64 - lse).exp()
            } else {
                0.0
            }
        })
        .collect()
}

const COMBINES: [Combine; 2] = [Combine::Mixture, Combine::Logits];

#[test]
fn one_teacher_knowing_every_class_is_the_single_teacher_loss() {
    let mut rng = SplitMix64::new(1);
    let mut worst = 0.0f64;
    for &(rows, cols) in &[(1, 2), (7, 10), (16, 100)] {
        for &(t, alpha) in &[(1.0f32, 0.5f32), (4.0, 1.0), (20.0, 0.3), (0.5, 0.9)] {
            let case = Case::random(&mut rng, (rows, cols, 1), vec![1; cols]);
            let kd = KdConfig {
                temperature: t,
                alpha,
            };
            let e = cpu::kd_loss(
                &cpu::to_f64(&case.z),
                &cpu::to_f64(&case.t),
                &case.labels,
                rows,
                cols,
                t as f64,
                alpha as f64,
            );
            for weights in WEIGHT_MODES {
                for combine in COMBINES {
                    let m = case.reference(config(t, alpha, weights, combine));
                    assert!(
                        max_diff(&m.grad, &e.grad) < 1e-15
                            && max_diff(&m.row_kl, &e.row_kl) < 1e-12
                    );
                    assert!((m.loss - e.loss).abs() < 1e-12 && m.weights.iter().all(|&w| w == 1.0));
                }
            }
            // On the GPU both kernels are checked against the f64 reference: the single-teacher
            // kernel uses cancellation-free forms the multi-teacher one does not share, so their
            // f32 results differ in the last bits while both sit within these bounds.
            with_gpu!(ctx => {
                let single = kd_loss::kd_loss(ctx, &KdBatch { student: &case.z, teacher: &case.t, labels: &case.labels, rows, cols }, kd).unwrap();
                let near = |got: &[f32], want: &[f64], tol: f64| got.iter().zip(want).all(|(&g, &w)| (g as f64 - w).abs() <= tol);
                let grad_tol = 2e-6 / rows as f64 * (1.0 + t as f64);
                assert!(near(&single.grad, &e.grad, grad_tol), "single-teacher kernel");
                for weights in WEIGHT_MODES {
                    for combine in COMBINES {
                        let got = case.gpu(ctx, config(t, alpha, weights, combine));
                        let label = format!("{rows}x{cols} T={t} α={alpha} {weights:?} {combine:?}");
                        let d = max_diff(&got.grad, &single.grad);
                        worst = worst.max(d * rows as f64);
                        assert!(near(&got.grad, &e.grad, grad_tol), "{label}: grad");
                        assert!(near(&got.row_ce, &e.row_ce, 1e-5), "{label}: ce");
                        assert!(near(&got.row_kl, &e.row_kl, 1e-5), "{label}: kl");
                        assert!((got.loss as f64 - e.loss).abs() <= 1e-5 * (1.0 + (t * t) as f64), "{label}: loss");
                        assert!(got.weights.iter().all(|&w| w == 1.0), "{label}: {:?}", got.weights);
                    }
                }
            });
        }
    }
    eprintln!("K = 1 vs kd_loss on the GPU: max |Δgrad|·B = {worst:.3e}");
}

#[test]
fn identical_teachers_are_one_teacher_in_every_mode() {
    let mut rng = SplitMix64::new(2);
    let (rows, cols, k) = (12, 9, 3);
    for masks in [Masks::All, Masks::Shared, Masks::Overlap] {
        let known = masks.build(&mut rng, 1, cols);
        let one = Case::random(&mut rng, (rows, cols, 1), known);
        let mut copies = one.clone();
        copies.k = k;
        copies.known = one.known.repeat(k);
        copies.base = vec![0.2, 0.5, 0.3];
        copies.t = one.t.chunks(cols).flat_map(|row| row.repeat(k)).collect();
        for weights in WEIGHT_MODES {
            for combine in COMBINES {
                let cfg = config(4.0, 0.7, weights, combine);
                let (e1, ek) = (one.reference(cfg), copies.reference(cfg));
                assert!(
                    max_diff(&e1.grad, &ek.grad) < 1e-14 && (e1.loss - ek.loss).abs() < 1e-12,
                    "{masks:?} {weights:?} {combine:?}"
                );
                with_gpu!(ctx => {
                    let (g1, gk) = (one.gpu(ctx, cfg), copies.gpu(ctx, cfg));
                    let label = format!("{masks:?} {weights:?} {combine:?}");
                    assert!(max_diff(&g1.grad, &gk.grad) <= 2e-7 / rows as f64, "{label}: grad");
                    assert!(max_diff(&g1.row_kl, &gk.row_kl) <= 2e-6, "{label}: kl");
                    assert!((g1.loss - gk.loss).abs() <= 1e-5, "{label}: loss");
                    if masks == Masks::All {
                        let single = kd_loss::kd_loss(ctx, &KdBatch { student: &one.z, teacher: &one.t, labels: &one.labels, rows, cols }, KdConfig { temperature: 4.0, alpha: 0.7 }).unwrap();
                        assert!(max_diff(&gk.grad, &single.grad) <= 2e-7 / rows as f64, "{label}: vs kd_loss");
                        assert!((gk.loss - single.loss).abs() <= 1e-5, "{label}: loss vs kd_loss");
                    }
                    // Route: ties go to the first teacher.
                    if weights == WeightMode::Route {
                        for (r, w) in gk.weights.chunks(k).enumerate() {
                            let expected: &[f32] = if one.known[one.labels[r] as usize] == 1 { &[1.0, 0.0, 0.0] } else { &[0.0; 3] };
                            assert_eq!(w, expected, "{label} row {r}");
                        }
                    }
                });
            }
        }
    }
}

#[test]
fn mixture_with_equal_class_sets_has_the_gradient_of_kl_to_the_mixed_distribution() {
    // With one class set S, Σ_k w_k(q − p_k) = q − p̄ for p̄ = Σ_k w_k p_k: the mixture has the
    // gradient of KL(p̄ ‖ q). The loss it reports is Σ_k w_k KL(p_k ‖ q) = KL(p̄ ‖ q) +
    // Σ_k w_k KL(p_k ‖ p̄), larger by a constant of the teachers.
    let mut rng = SplitMix64::new(3);
    let (rows, cols, k, t) = (10, 8, 3, 3.0f32);
    for masks in [Masks::All, Masks::Shared] {
        let known = masks.build(&mut rng, k, cols);
        let case = Case::random(&mut rng, (rows, cols, k), known.clone());
        for weights in [
            WeightMode::Uniform,
            WeightMode::Fixed,
            WeightMode::Confidence,
        ] {
            let cfg = config(t, 0.6, weights, Combine::Mixture);
            let mix = case.reference(cfg);
            // One teacher with logits T·log p̄ has softmax p̄ over S.
            let mut single = Case {
                k: 1,
                known: known[..cols].to_vec(),
                base: vec![1.0],
                t: vec![0.0; rows * cols],
                ..case.clone()
            };
            let mut spread = Vec::new();
            for r in 0..rows {
                let w = &mix.weights[r * k..(r + 1) * k];
                let p: Vec<Vec<f64>> = (0..k)
                    .map(|j| {
                        masked_softmax(
                            &case.t[(r * k + j) * cols..(r * k + j + 1) * cols],
                            &known[..cols],
                            t,
                        )
                    })
                    .collect();
                let p_bar: Vec<f64> = (0..cols)
                    .map(|c| (0..k).map(|j| w[j] * p[j][c]).sum())
                    .collect();
                for c in (0..cols).filter(|&c| known[c] == 1 && p_bar[c] > 0.0) {
                    single.t[r * cols + c] = (t as f64 * p_bar[c].ln()) as f32;
                }
                let kl = |p: &[f64], q: &[f64]| -> f64 {
                    (0..cols)
                        .filter(|&c| p[c] > 0.0)
                        .map(|c| p[c] * (p[c] / q[c]).ln())
                        .sum()
                };
                spread.push((0..k).map(|j| w[j] * kl(&p[j], &p_bar)).sum::<f64>());
            }
            let kl_bar = single.reference(config(t, 0.6, WeightMode::Uniform, Combine::Mixture));
            // T·log p̄ went through f32 (|T log p̄| ≤ 30: p̄ moves by ≤ 1e-6 relative).
            assert!(
                max_diff(&mix.grad, &kl_bar.grad) < 1e-6 / rows as f64,
                "{masks:?} {weights:?}"
            );
            // Rows whose label no teacher knows have no soft term in either.
            let taught: Vec<bool> = (0..rows)
                .map(|r| known[case.labels[r] as usize] == 1)
                .collect();
            assert!(taught.iter().any(|&x| x));
            for r in (0..rows).filter(|&r| taught[r]) {
                let excess = mix.row_kl[r] - kl_bar.row_kl[r];
                assert!(
                    (excess - spread[r]).abs() < 1e-6,
                    "{masks:?} {weights:?} row {r}: {excess} vs {}",
                    spread[r]
                );
            }
            // The teachers must disagree for the identity to mean anything.
            let taught_spread: f64 = (0..rows).filter(|&r| taught[r]).map(|r| spread[r]).sum();
            assert!(
                taught_spread > 0.1,
                "{masks:?} {weights:?}: {taught_spread}"
            );
            with_gpu!(ctx => {
                let got = case.gpu(ctx, cfg);
                let d = max_diff(&got.grad, &kl_bar.grad);
                assert!(d < 2e-6 / rows as f64, "{masks:?} {weights:?}: {d:e}");
            });
        }
    }
}

#[test]
fn route_puts_all_weight_on_the_most_confident_eligible_teacher() {
    // Class 3 is unknown to teacher 0 and class 1 to teacher 1, though their logits there are
    // the largest: neither may be chosen for those labels. Row 3 ties exactly (p = 1 to
    // rounding in f32 and f64): the first teacher wins.
    let (rows, cols, k) = (4, 5, 3);
    let known = [
        1, 1, 1, 0, 1, /**/ 1, 0, 1, 1, 1, /**/ 1, 1, 1, 1, 1,
    ];
    #[rustfmt::skip]
    let t = [
        4.0f32, 1.0, 0.0, 9.0, 0.0,   0.0, 0.0, 2.0, 0.0, 1.0,   1.0, 1.0, 1.0, 1.0, 1.0, // y = 0
        0.0, 0.0, 0.0, 9.0, 0.0,      0.0, 0.0, 0.0, 1.0, 0.0,   0.0, 0.0, 0.0, 3.0, 0.0, // y = 3
        0.0, 2.0, 0.0, 0.0, 0.0,      5.0, 5.0, 5.0, 5.0, 5.0,   0.0, 3.0, 0.0, 0.0, 0.0, // y = 1
        0.0, 0.0, 100.0, 0.0, 0.0,    0.0, 0.0, 100.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, // y = 2: p = 1 twice
    ];
    let case = Case {
        z: vec![0.5; rows * cols],
        t: t.to_vec(),
        known: known.to_vec(),
        base: vec![1.0; k],
        labels: vec![0, 3, 1, 2],
        rows,
        cols,
        k,
    };
    let expected = [
        [1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0],
        [0.0, 0.0, 1.0],
        [1.0, 0.0, 0.0],
    ];
    let cfg = config(2.0, 0.5, WeightMode::Route, Combine::Mixture);
    let e = case.reference(cfg);
    for (r, want) in expected.iter().enumerate() {
        assert_eq!(e.weights[r * k..(r + 1) * k], *want, "reference row {r}");
    }
    with_gpu!(ctx => {
        let got = case.gpu(ctx, cfg);
        for (r, want) in expected.iter().enumerate() {
            assert_eq!(got.weights[r * k..(r + 1) * k], want.map(|w| w as f32), "row {r}");
            // The row's gradient is that of the routed teacher alone.
            let j = want.iter().position(|&w| w == 1.0).unwrap();
            let alone = Case { t: t[(r * k + j) * cols..(r * k + j + 1) * cols].to_vec(), known: known[j * cols..(j + 1) * cols].to_vec(), base: vec![1.0], labels: vec![case.labels[r]], rows: 1, cols, k: 1, z: vec![0.5; cols] };
            let single = alone.gpu(ctx, cfg);
            let d = max_diff(&got.grad[r * cols..(r + 1) * cols], &single.grad.iter().map(|g| g / rows as f32).collect::<Vec<_>>());
            assert!(d < 1e-7, "row {r}: {d:e}");
        }
    });
}

#[test]
fn a_row_no_teacher_knows_gets_the_cross_entropy_gradient_only() {
    let mut rng = SplitMix64::new(4);
    let (rows, cols, k, alpha) = (8, 6, 2, 0.75f32);
    for masks in [Masks::Disjoint, Masks::Overlap, Masks::Shared] {
        let known = masks.build(&mut rng, k, cols);
        let mut case = Case::random(&mut rng, (rows, cols, k), known);
        // Class C − 1 is known to nobody.
        for r in [0, 3, 7] {
            case.labels[r] = cols as u32 - 1;
        }
        let mut redrawn = case.clone();
        for r in [0, 3, 7] {
            let row = random_vec(&mut rng, k * cols, -9.0, 9.0);
            redrawn.t[r * k * cols..(r + 1) * k * cols].copy_from_slice(&row);
        }
        let (s, _) = cpu::softmax(&cpu::to_f64(&case.z), rows, cols, 1.0);
        for weights in WEIGHT_MODES {
            for combine in COMBINES {
                if combine == Combine::Logits && masks != Masks::Shared {
                    continue;
                }
                let cfg = config(4.0, alpha, weights, combine);
                let e = case.reference(cfg);
                for r in [0, 3, 7] {
                    assert_eq!(e.row_kl[r], 0.0);
                    assert!(e.weights[r * k..(r + 1) * k].iter().all(|&w| w == 0.0));
                    for c in 0..cols {
                        let onehot = if c == cols - 1 { 1.0 } else { 0.0 };
                        let ce_only = (1.0 / rows as f64)
                            * ((1.0 - alpha as f64) * (s[r * cols + c] - onehot));
                        assert_eq!(
                            e.grad[r * cols + c],
                            ce_only,
                            "{masks:?} {weights:?} {combine:?} [{r}, {c}]"
                        );
                    }
                }
                with_gpu!(ctx => {
                    let (got, again) = (case.gpu(ctx, cfg), redrawn.gpu(ctx, cfg));
                    let label = format!("{masks:?} {weights:?} {combine:?}");
                    for r in [0, 3, 7] {
                        assert_eq!(got.row_kl[r], 0.0, "{label}");
                        assert!(got.weights[r * k..(r + 1) * k].iter().all(|&w| w == 0.0), "{label}");
                        let row = r * cols..(r + 1) * cols;
                        assert!(max_diff(&got.grad[row.clone()], &e.grad[row.clone()]) < 1e-8, "{label} row {r}");
                        // Its teachers' logits do not reach it at all.
                        assert_eq!(got.grad[row.clone()], again.grad[row], "{label} row {r}");
                    }
                    // The other rows do learn from their teachers.
                    assert!(got.row_kl.iter().enumerate().any(|(r, &kl)| ![0, 3, 7].contains(&r) && kl > 1e-3), "{label}");
                });
            }
        }
    }
}

#[test]
fn reference_gradient_matches_finite_differences() {
    // The weights depend on the teachers and labels only, so L is smooth in z.
    let mut rng = SplitMix64::new(5);
    let (rows, cols, k) = (4, 6, 3);
    let settings = [(1.0f32, 0.5f32), (4.0, 1.0), (0.5, 0.3), (20.0, 0.9)];
    let mut turn = 0;
    let mut checked = 0;
    for masks in [
        Some(Masks::All),
        Some(Masks::Disjoint),
        Some(Masks::Overlap),
        Some(Masks::Shared),
        None,
    ] {
        let known = match masks {
            Some(m) => m.build(&mut rng, k, cols),
            None => random_masks(&mut rng, k, cols, 0.5),
        };
        let mut case = Case::random(&mut rng, (rows, cols, k), known);
        case.labels = vec![0, 2, 4, 5];
        for weights in WEIGHT_MODES {
            for combine in COMBINES {
                if combine == Combine::Logits && !matches!(masks, Some(Masks::All | Masks::Shared))
                {
                    continue;
                }
                let (t, alpha) = settings[turn % settings.len()];
                turn += 1;
                let cfg = config(t, alpha, weights, combine);
                let z = cpu::to_f64(&case.z);
                let out = case.reference_at(&z, cfg);
                let numeric = numeric_grad(&z, |zz| case.reference_at(zz, cfg).loss);
                for (i, (a, n)) in out.grad.iter().zip(&numeric).enumerate() {
                    assert!(
                        (a - n).abs() <= 1e-8 + 1e-5 * n.abs(),
                        "{masks:?} {weights:?} {combine:?} T={t} α={alpha} [{i}]: {a:e} vs {n:e}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 5 * 5 + 2 * 5);
}

#[test]
fn the_tolerances_catch_a_wrong_weighting_mask_or_temperature() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(9);
        let (rows, cols, k) = (16, 10, 3);
        let known = Masks::Overlap.build(&mut rng, k, cols);
        let case = Case::random(&mut rng, (rows, cols, k), known);
        let right = config(4.0, 0.5, WeightMode::Fixed, Combine::Mixture);
        let got = case.gpu(ctx, right);
        let grad_fails = |batch: &MultiKdBatch<'_>, cfg: MultiKdConfig| !mcheck::compare_multi_kd(&got, batch, cfg)[0].passed();
        for c in mcheck::compare_multi_kd(&got, &case.batch(), right) {
            c.assert_ok();
        }
        assert!(grad_fails(&case.batch(), MultiKdConfig { weights: WeightMode::Uniform, ..right }));
        assert!(grad_fails(&case.batch(), MultiKdConfig { weights: WeightMode::Confidence, ..right }));
        assert!(grad_fails(&case.batch(), MultiKdConfig { temperature: 4.04, ..right }));
        assert!(grad_fails(&case.batch(), MultiKdConfig { alpha: 0.505, ..right }));
        let all_known = vec![1; k * cols];
        assert!(grad_fails(&MultiKdBatch { known: &all_known, ..case.batch() }, right));
        let mut base = case.base.clone();
        base[1] *= 1.01;
        assert!(grad_fails(&MultiKdBatch { base_weights: &base, ..case.batch() }, right));
    });
}

#[test]
fn gpu_matches_reference_on_the_suite() {
    with_gpu!(ctx => {
        let results = mcheck::suite(ctx, &mut SplitMix64::new(6)).unwrap();
        assert!(results.len() >= 5 * 100);
        let kernels: Vec<String> = summarize(&results).into_iter().map(|k| k.kernel).collect();
        assert_eq!(kernels, ["multi kd grad", "multi kd row ce", "multi kd row kl", "multi kd weights", "multi kd batch loss/ce/kl"]);
        assert_all_ok(&results);
    });
}

#[test]
fn gpu_matches_reference_on_a_random_sweep() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(7);
        let mut results = Vec::new();
        for _ in 0..40 {
            let (rows, cols, k) = (1 + rng.below(64), 2 + rng.below(99), 1 + rng.below(4));
            let combine = COMBINES[rng.below(2)];
            let density = 0.2 + 0.7 * rng.next_f64();
            let known = match combine {
                // Equal class sets: one random mask for every teacher.
                Combine::Logits => random_masks(&mut rng, 1, cols, density).repeat(k),
                Combine::Mixture => random_masks(&mut rng, k, cols, density),
            };
            let t = [0.5f32, 1.0, 4.0, 20.0][rng.below(4)];
            let alpha = [0.0f32, 0.3, 0.5, 1.0][rng.below(4)];
            let cfg = config(t, alpha, WEIGHT_MODES[rng.below(5)], combine);
            results.extend(mcheck::check_random_case(ctx, &mut rng, (rows, cols, k), &known, cfg, rows % 2 == 0).unwrap());
        }
        assert_all_ok(&results);
    });
}

#[test]
fn extreme_logits_stay_finite() {
    with_gpu!(ctx => {
        let z = [1e4f32, -1e4, 0.0, 5e3, -1e4, 1e4, 1e4, 0.0, 3.0, 2.0, 1e4, -1e4];
        let t: Vec<f32> = z.iter().rev().chain(&z).copied().collect();
        let known = [1, 1, 0, 1, 0, 1, 1, 1];
        for &temperature in &[0.5f32, 1.0, 4.0, 20.0] {
            for weights in WEIGHT_MODES {
                let case = Case { z: z.to_vec(), t: t.clone(), known: known.to_vec(), base: vec![0.5, 0.5], labels: vec![1, 3, 0], rows: 3, cols: 4, k: 2 };
                let got = case.gpu(ctx, config(temperature, 0.5, weights, Combine::Mixture));
                let all = [got.loss, got.ce, got.kl].into_iter().chain(got.grad).chain(got.row_kl).chain(got.weights);
                assert!(all.clone().all(f32::is_finite), "T={temperature} {weights:?}");
            }
        }
    });
}

#[test]
fn accuracy_runs_the_fixed_path_and_runs_are_deterministic() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(8);
        let known = random_masks(&mut rng, 4, 70, 0.6);
        let case = Case::random(&mut rng, (40, 70, 4), known);
        let fixed = case.gpu(ctx, config(4.0, 0.5, WeightMode::Fixed, Combine::Mixture));
        let accuracy = case.gpu(ctx, config(4.0, 0.5, WeightMode::Accuracy, Combine::Mixture));
        let again = case.gpu(ctx, config(4.0, 0.5, WeightMode::Fixed, Combine::Mixture));
        for other in [&accuracy, &again] {
            assert_eq!(fixed.grad, other.grad);
            assert_eq!(fixed.row_kl, other.row_kl);
            assert_eq!(fixed.weights, other.weights);
            assert_eq!(fixed.loss.to_bits(), other.loss.to_bits());
        }
    });
}

fn base_case() -> Case {
    Case {
        z: vec![0.0; 6],
        t: vec![0.0; 12],
        known: vec![1, 1, 0, 0, 1, 1],
        base: vec![1.0, 0.5],
        labels: vec![0, 2],
        rows: 2,
        cols: 3,
        k: 2,
    }
}

fn invalid(edit: impl Fn(&mut Case), combine: Combine) -> Error {
    let mut case = base_case();
    edit(&mut case);
    let cfg = config(2.0, 0.5, WeightMode::Fixed, combine);
    let err = case.batch().validate(&cfg).unwrap_err();
    with_gpu!(ctx => {
        let gpu_err = multi_kd::multi_kd(ctx, &case.batch(), cfg).unwrap_err();
        assert_eq!(gpu_err.to_string(), err.to_string());
    });
    err
}

#[test]
fn bad_inputs_return_typed_errors() {
    let ok = base_case();
    ok.batch()
        .validate(&config(2.0, 0.5, WeightMode::Fixed, Combine::Mixture))
        .unwrap();
    let mix = Combine::Mixture;
    let config_err = |edit: fn(&mut Case), what: &str| {
        let err = invalid(edit, mix);
        assert!(
            matches!(&err, Error::InvalidConfig(m) if m.contains(what)),
            "{what}: {err}"
        );
    };
    config_err(|c| c.k = 0, "got 0");
    config_err(
        |c| {
            c.k = MAX_TEACHERS + 1;
            c.t = vec![0.0; 2 * 9 * 3];
            c.known = vec![1; 9 * 3];
            c.base = vec![1.0; 9];
        },
        "got 9",
    );
    config_err(|c| c.cols = 0, "at least one class");
    config_err(|c| c.base[1] = -0.5, "teacher 1 has -0.5");
    config_err(|c| c.known[4] = 2, "teacher 1 class 1 has 2");
    config_err(|c| c.known[3..6].fill(0), "teacher 1 knows no class");
    let shape = |edit: fn(&mut Case), what: &str| {
        let err = invalid(edit, mix);
        assert!(
            matches!(&err, Error::ShapeMismatch { what: w, .. } if w == what),
            "{what}: {err}"
        );
    };
    shape(|c| c.z.push(0.0), "student logits");
    shape(|c| c.t.pop().map(drop).unwrap(), "teacher logits");
    shape(|c| c.known.push(1), "known-class masks");
    shape(|c| c.base.push(1.0), "teacher base weights");
    shape(|c| c.labels.push(0), "labels");
    let non_finite = |edit: fn(&mut Case), what: &str| {
        let err = invalid(edit, mix);
        assert!(
            matches!(&err, Error::NonFinite { what: w, .. } if w == what),
            "{what}: {err}"
        );
    };
    non_finite(|c| c.base[0] = f32::NAN, "teacher base weights");
    non_finite(|c| c.base[0] = f32::INFINITY, "teacher base weights");
    non_finite(|c| c.z[2] = f32::INFINITY, "student logits");
    non_finite(|c| c.t[7] = f32::NAN, "teacher logits");
    let err = invalid(|c| c.labels[1] = 3, mix);
    assert!(
        matches!(
            err,
            Error::LabelOutOfRange {
                row: 1,
                label: 3,
                classes: 3
            }
        ),
        "{err}"
    );
    assert!(matches!(
        invalid(
            |c| {
                c.rows = 0;
                c.z.clear();
                c.t.clear();
                c.labels.clear();
            },
            mix
        ),
        Error::EmptyBatch
    ));
    // Logits need equal class sets; equal sets pass.
    let err = invalid(|_| {}, Combine::Logits);
    assert!(
        matches!(&err, Error::InvalidConfig(m) if m.contains("same classes") && m.contains("teacher 1")),
        "{err}"
    );
    let mut shared = base_case();
    shared.known = vec![1, 1, 0, 1, 1, 0];
    shared
        .batch()
        .validate(&config(2.0, 0.5, WeightMode::Uniform, Combine::Logits))
        .unwrap();
    // T and α.
    for (t, a) in [
        (0.0f32, 0.5f32),
        (-1.0, 0.5),
        (f32::NAN, 0.5),
        (f32::INFINITY, 0.5),
    ] {
        assert!(matches!(
            ok.batch().validate(&config(t, a, WeightMode::Uniform, mix)),
            Err(Error::InvalidTemperature(_))
        ));
    }
    for a in [-0.1f32, 1.5, f32::NAN] {
        assert!(matches!(
            ok.batch()
                .validate(&config(1.0, a, WeightMode::Uniform, mix)),
            Err(Error::InvalidAlpha(_))
        ));
    }
}
