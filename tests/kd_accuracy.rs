//! f32 accuracy of the fused KD loss at the edges, against the f64 reference: saturated two-class
//! rows (logit gaps 16 to 40, T = 1), near-uniform rows at T = 20 and 10, mixed rows of 1000
//! classes, logits of ±1e4; α ∈ {0, 0.5, 1}, up to 128 rows. The loss and per-row CE and KL
//! must agree to 1e-5 relative, every gradient entry to 1e-5 of its row's largest gradient term
//! and of the batch's largest entry (`kd_loss::check::check_kd_edges`). The reference is checked
//! first, against the plain forms wherever those are accurate and against closed forms for two
//! classes; then the shared WGSL math's CPU twins, against f64.

mod common;

use distill_wgpu::ops::check::Comparison;
use distill_wgpu::ops::kd_loss::check::{
    check_kd_edges, edge_cases, extreme_rows, mixed_rows, near_uniform_rows, saturated_rows,
    KdCase, KD_RTOL,
};
use distill_wgpu::ops::shared::stable_math as sm;
use distill_wgpu::{cpu, GpuContext, KdConfig, SplitMix64};

/// Runs the cases, prints each comparison's largest errors, then fails on any out of tolerance.
fn run_cases(ctx: &GpuContext, cases: &[KdCase]) {
    let mut results: Vec<Comparison> = Vec::new();
    for case in cases {
        results.extend(check_kd_edges(ctx, case).unwrap());
    }
    for c in &results {
        eprintln!(
            "{}: max abs {:.3e}, max rel {:.3e}",
            c.what, c.max_abs, c.max_rel
        );
    }
    for c in &results {
        c.assert_ok();
    }
}

fn kd(temperature: f32, alpha: f32) -> KdConfig {
    KdConfig { temperature, alpha }
}

const ALPHAS: [f32; 3] = [0.0, 0.5, 1.0];
const F64_EPS: f64 = f64::EPSILON;

/// `(log-probabilities, probabilities)` of `softmax(x / T)`, with the log-sum as
/// `log1p(Σ_{c≠top} e^{(x_c − max)/T})`: each log-probability to about an ulp of itself.
fn plain_softmax(x: &[f64], t: f64) -> (Vec<f64>, Vec<f64>) {
    let top = (0..x.len()).fold(0, |b, c| if x[c] > x[b] { c } else { b });
    let scaled: Vec<f64> = x.iter().map(|v| (v - x[top]) / t).collect();
    let rest: f64 = (0..x.len())
        .filter(|&c| c != top)
        .map(|c| scaled[c].exp())
        .sum();
    let log_p: Vec<f64> = scaled.iter().map(|s| s - rest.ln_1p()).collect();
    let p = log_p.iter().map(|l| l.exp()).collect();
    (log_p, p)
}

#[test]
fn reference_agrees_with_the_plain_forms_wherever_they_are_accurate() {
    // Plain: kl = Σ p (log p − log q), off by about ulp·Σ p (|log p| + |log q|); q − p, off by
    // about ulp·(q (1 + |log q|) + p (1 + |log p|)), as q = e^{log q}. The reference must agree
    // to those, plus 1e-13 of its KL and 1e-12 of the row's largest gradient.
    let mut rng = SplitMix64::new(31);
    let (mut kl_checked, mut worst_kl, mut worst_grad) = (0, 0.0f64, 0.0f64);
    for case in edge_cases(&mut rng, 16) {
        let (rows, cols) = (case.rows, case.cols);
        let t = case.config.temperature as f64;
        let (z, te) = (cpu::to_f64(&case.student), cpu::to_f64(&case.teacher));
        let e = cpu::kd_loss(&z, &te, &case.labels, rows, cols, t, 1.0);
        for r in 0..rows {
            let span = r * cols..(r + 1) * cols;
            let (lq, q) = plain_softmax(&z[span.clone()], t);
            let (lp, p) = plain_softmax(&te[span.clone()], t);
            let (mut kl, mut kl_bound) = (0.0, 0.0);
            for c in (0..cols).filter(|&c| p[c] > 0.0) {
                kl += p[c] * (lp[c] - lq[c]);
                kl_bound += 8.0 * F64_EPS * p[c] * (lp[c].abs() + lq[c].abs());
            }
            let kl_err = (e.row_kl[r] - kl).abs();
            assert!(
                kl_err <= kl_bound + 1e-13 * e.row_kl[r],
                "{} row {r}: kl {} vs plain {kl} (bound {kl_bound:e})",
                case.name,
                e.row_kl[r]
            );
            if kl_bound < 1e-9 * e.row_kl[r] {
                kl_checked += 1;
                worst_kl = worst_kl.max(kl_err / e.row_kl[r]);
            }
            let largest = span.clone().fold(0.0f64, |m, i| m.max(e.grad[i].abs()));
            let plain: Vec<f64> = (0..cols).map(|c| t * (q[c] - p[c]) / rows as f64).collect();
            for c in 0..cols {
                let plain = plain[c];
                let rounding = q[c] * (1.0 + lq[c].abs()) + p[c] * (1.0 + lp[c].abs());
                let bound = 8.0 * F64_EPS * t * rounding / rows as f64 + 1e-12 * largest;
                let err = (e.grad[r * cols + c] - plain).abs();
                assert!(
                    err <= bound,
                    "{} row {r} class {c}: {} vs plain {plain}",
                    case.name,
                    e.grad[r * cols + c]
                );
                worst_grad = worst_grad.max(err / bound);
            }
        }
    }
    // Most rows are ones where the plain KL is accurate to 1e-9: the check has teeth.
    assert!(
        kl_checked > 500,
        "only {kl_checked} rows with an accurate plain KL"
    );
    eprintln!("reference vs plain: kl {worst_kl:.2e} relative on {kl_checked} rows; q − p at most {worst_grad:.2} of its bound");
}

#[test]
fn reference_matches_closed_forms_on_saturated_two_class_rows() {
    // Two classes, label on top, logit gap g: ce = log1p(e^−g), s_y − 1 = −1 / (1 + e^g).
    let mut rng = SplitMix64::new(32);
    for gap in [16.0f32, 24.0, 32.0, 40.0] {
        let (z, t, labels) = saturated_rows(&mut rng, 32, gap);
        let e = cpu::kd_loss(&cpu::to_f64(&z), &cpu::to_f64(&t), &labels, 32, 2, 1.0, 0.0);
        for r in 0..32 {
            let y = labels[r] as usize;
            let g = z[2 * r + y] as f64 - z[2 * r + 1 - y] as f64;
            if g < 0.0 {
                continue;
            }
            let ce = (-g).exp().ln_1p();
            assert!(
                (e.row_ce[r] - ce).abs() <= 1e-14 * ce,
                "gap {gap} row {r}: {} vs {ce}",
                e.row_ce[r]
            );
            let grad = -1.0 / (1.0 + g.exp()) / 32.0;
            assert!(
                (e.grad[2 * r + y] - grad).abs() <= 1e-14 * grad.abs(),
                "gap {gap} row {r}"
            );
        }
    }
}

#[test]
fn plain_f32_forms_miss_the_edge_tolerances() {
    // The forms the kernel replaced, evaluated in f32 on saturated rows: ce = log Σ e^{z − max}
    // − (z_y − max) and s_y − 1 from s_y. Both miss KD_RTOL by orders of magnitude, so the edge
    // checks can tell them from the kernel's.
    let mut rng = SplitMix64::new(33);
    for gap in [16.0f32, 24.0] {
        let (z, t, labels) = saturated_rows(&mut rng, 16, gap);
        let e = cpu::kd_loss(&cpu::to_f64(&z), &cpu::to_f64(&t), &labels, 16, 2, 1.0, 0.0);
        let (mut ce_err, mut grad_err) = (0.0f64, 0.0f64);
        for r in (0..16).filter(|r| r % 8 != 7) {
            let (zr, y) = (&z[2 * r..2 * r + 2], labels[r] as usize);
            let max = zr[0].max(zr[1]);
            let sum: f32 = zr.iter().map(|v| (v - max).exp()).sum();
            let ce = sum.ln() - (zr[y] - max);
            let s_minus_1 = ((zr[y] - max).exp() / sum - 1.0) / 16.0;
            ce_err = ce_err.max((ce as f64 - e.row_ce[r]).abs() / e.row_ce[r]);
            grad_err = grad_err
                .max((s_minus_1 as f64 - e.grad[2 * r + y]).abs() / e.grad[2 * r + y].abs());
        }
        assert!(
            ce_err > 100.0 * KD_RTOL && grad_err > 100.0 * KD_RTOL,
            "gap {gap}: {ce_err:e}, {grad_err:e}"
        );
    }
}

#[test]
fn shared_wgsl_math_twins_are_accurate_to_a_few_ulp() {
    let ulp = |x: f64| f32::EPSILON as f64 * x.abs().max(f32::MIN_POSITIVE as f64);
    let mut worst = [0.0f64; 5];
    for i in 0..20_000 {
        let f = i as f64 / 20_000.0;
        // exp over its range, with a low part; log over 1e-30..1e30 and near 1.
        let x = (-87.0 + 174.0 * f) as f32;
        let exact = (x as f64 + 1e-7).exp();
        worst[0] = worst[0].max((sm::exp_accurate(x, 1e-7) as f64 - exact).abs() / ulp(exact));
        let y = 10f64.powf(-30.0 + 60.0 * f) as f32;
        let near_1 = (1.0 + (f - 0.5) * 1e-3) as f32;
        for v in [y, near_1] {
            let exact = (v as f64).ln();
            worst[1] = worst[1].max((sm::log_accurate(v) as f64 - exact).abs() / ulp(exact));
        }
        let u = (f * 3.0 - 0.29) as f32;
        let exact = (u as f64).ln_1p();
        worst[2] = worst[2].max((sm::log1p_stable(u) as f64 - exact).abs() / ulp(exact));
        let e = (f * 8.0 - 4.0) as f32;
        let exact = (e as f64).exp_m1() - e as f64;
        worst[3] = worst[3].max((sm::exp_minus_1_minus_x(e) as f64 - exact).abs() / ulp(exact));
        let s = (f * 2.0 - 1.0) as f32;
        let exact = (s as f64).exp_m1();
        worst[4] = worst[4].max((sm::expm1_small(s) as f64 - exact).abs() / ulp(exact));
    }
    eprintln!(
        "ulp errors: exp {:.2}, log {:.2}, log1p {:.2}, e^x − 1 − x {:.2}, expm1 {:.2}",
        worst[0], worst[1], worst[2], worst[3], worst[4]
    );
    let limits = [2.0, 3.0, 3.0, 8.0, 3.0];
    for (w, l) in worst.iter().zip(limits) {
        assert!(*w <= l, "{worst:?}");
    }
    // TwoSum is exact, where a − b alone rounds.
    let (a, b) = (1.0f32, 1e-8f32);
    let (hi, lo) = sm::two_sum(a, -b);
    assert_eq!((hi, lo as f64 + b as f64), (1.0, 0.0));
}

#[test]
fn saturated_two_class_rows_at_t1() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(21);
        let mut cases = Vec::new();
        for alpha in ALPHAS {
            for gap in [16.0f32, 24.0, 32.0, 40.0] {
                let name = format!("saturated gap {gap}");
                cases.push(KdCase::new(&name, 128, 2, kd(1.0, alpha), saturated_rows(&mut rng, 128, gap)));
            }
        }
        run_cases(ctx, &cases);
    });
}

#[test]
fn near_uniform_rows_at_t20_and_t10() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(22);
        let mut cases = Vec::new();
        for alpha in ALPHAS {
            for t in [20.0f32, 10.0] {
                for cols in [10, 1000] {
                    cases.push(KdCase::new("near-uniform", 128, cols, kd(t, alpha), near_uniform_rows(&mut rng, 128, cols, 0.0)));
                }
                // Softmax ignores a constant shift; the kernel's z − t must not lose it to rounding.
                cases.push(KdCase::new("near-uniform, teacher shifted by 3", 128, 10, kd(t, alpha), near_uniform_rows(&mut rng, 128, 10, 3.0)));
            }
        }
        run_cases(ctx, &cases);
    });
}

#[test]
fn mixed_rows_with_1000_classes() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(23);
        let mut cases = Vec::new();
        for alpha in ALPHAS {
            for t in [0.5f32, 1.0, 4.0, 20.0] {
                cases.push(KdCase::new("mixed", 128, 1000, kd(t, alpha), mixed_rows(&mut rng, 128, 1000)));
            }
        }
        for rows in [1, 127] {
            cases.push(KdCase::new("mixed", rows, 1000, kd(4.0, 0.5), mixed_rows(&mut rng, rows, 1000)));
        }
        run_cases(ctx, &cases);
    });
}

#[test]
fn logits_of_1e4() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(24);
        let mut cases = Vec::new();
        for alpha in ALPHAS {
            for t in [0.5f32, 1.0, 4.0, 20.0] {
                for cols in [2, 10, 1000] {
                    cases.push(KdCase::new("logits ±1e4", 128, cols, kd(t, alpha), extreme_rows(&mut rng, 128, cols)));
                }
            }
        }
        run_cases(ctx, &cases);
    });
}
