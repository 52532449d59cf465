//! GPU-vs-CPU comparison with per-element tolerances, and the validation suite that
//! `distill validate` runs on a user's hardware: every kernel and matmul variant at named edge
//! shapes, against the CPU reference.

use crate::context::GpuContext;
use crate::cpu;
use crate::error::Result;
use crate::kernels::{self, KdBatch, Optimizer};
use crate::matmul::{Epilogue, MatmulSpec, MatmulVariant, Strided};
use crate::mlp::KdConfig;
use crate::model::SplitMix64;

/// Per-element tolerance: `|got − expected| ≤ atol + rtol·|expected|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Absolute part.
    pub atol: f64,
    /// Relative part.
    pub rtol: f64,
}

impl Tolerance {
    /// A tolerance.
    pub const fn new(atol: f64, rtol: f64) -> Self {
        Self { atol, rtol }
    }
}

/// The result of comparing GPU output with the CPU reference.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// What was compared.
    pub what: String,
    /// Elements compared.
    pub count: usize,
    /// Largest absolute error.
    pub max_abs: f64,
    /// Largest relative error `|err| / max(|expected|, 1e-30)`, over elements with |expected| > atol.
    pub max_rel: f64,
    /// The tolerance used.
    pub tolerance: Tolerance,
    /// `(index, expected, got)` of the first mismatches (at most 10) and the total.
    pub mismatches: Vec<(usize, f64, f32)>,
    /// Number of elements out of tolerance (NaN counts as out).
    pub mismatch_count: usize,
}

impl Comparison {
    /// True when every element is within tolerance and the lengths agree.
    pub fn passed(&self) -> bool {
        self.mismatch_count == 0
    }

    /// A readable report: counts, max errors and the first mismatches.
    pub fn report(&self) -> String {
        let mut s = format!(
            "{}: {} of {} elements out of tolerance (atol {:e}, rtol {:e}); max abs err {:.3e}, max rel err {:.3e}",
            self.what,
            self.mismatch_count,
            self.count,
            self.tolerance.atol,
            self.tolerance.rtol,
            self.max_abs,
            self.max_rel
        );
        for (i, e, g) in &self.mismatches {
            s.push_str(&format!("\n  [{i}] expected {e:.9e}, got {g:.9e}"));
        }
        s
    }

    /// The kernel this check belongs to (its name without shape and settings), e.g.
    /// `matmul unrolled-32x16`, `softmax`, `kd grad`.
    pub fn kernel(&self) -> String {
        let mut words: Vec<&str> = Vec::new();
        for w in self.what.split_whitespace() {
            if w.starts_with(|c: char| c.is_ascii_digit() || c == '(') || w.ends_with(':') {
                break;
            }
            words.push(w);
            if words[0] == "matmul" && words.len() == 2 {
                break;
            }
        }
        words.join(" ")
    }

    /// Panics with [`Comparison::report`] unless passed (for tests).
    pub fn assert_ok(&self) -> &Self {
        assert!(self.passed(), "{}", self.report());
        self
    }
}

/// Compares `got` with `expected` element-wise.
pub fn compare(what: &str, got: &[f32], expected: &[f64], tolerance: Tolerance) -> Comparison {
    let mut c = Comparison {
        what: what.to_string(),
        count: expected.len(),
        max_abs: 0.0,
        max_rel: 0.0,
        tolerance,
        mismatches: Vec::new(),
        mismatch_count: 0,
    };
    if got.len() != expected.len() {
        c.mismatch_count = got.len().abs_diff(expected.len()).max(1);
        c.what = format!(
            "{what} (length {} vs expected {})",
            got.len(),
            expected.len()
        );
        return c;
    }
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        let err = (g as f64 - e).abs();
        let ok = err <= tolerance.atol + tolerance.rtol * e.abs();
        if err.is_finite() {
            c.max_abs = c.max_abs.max(err);
            if e.abs() > tolerance.atol {
                c.max_rel = c.max_rel.max(err / e.abs());
            }
        } else {
            c.max_abs = f64::INFINITY;
        }
        if !ok {
            c.mismatch_count += 1;
            if c.mismatches.len() < 10 {
                c.mismatches.push((i, e, g));
            }
        }
    }
    c
}

/// Uniform random f32 values in `[lo, hi)`.
pub fn random_vec(rng: &mut SplitMix64, len: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..len)
        .map(|_| lo + (hi - lo) * rng.next_f64() as f32)
        .collect()
}

/// One matmul problem with random operands.
#[derive(Debug, Clone)]
pub struct MatmulCase {
    /// Which product and shape.
    pub name: String,
    /// The problem.
    pub spec: MatmulSpec,
    /// Operand A.
    pub a: Vec<f32>,
    /// Operand B.
    pub b: Vec<f32>,
    /// Bias or mask.
    pub aux: Vec<f32>,
}

impl MatmulCase {
    /// Checks `variant` on this case.
    pub fn check(
        &self,
        ctx: &GpuContext,
        variant: MatmulVariant,
        label: &str,
    ) -> Result<Comparison> {
        check_matmul(
            ctx,
            variant,
            &format!("{label}: {}", self.name),
            &self.spec,
            &self.a,
            &self.b,
            &self.aux,
        )
    }
}

/// The three products an MLP layer needs, plus a plain bias product, for an `m × n × k` shape
/// with random operands (offsets non-zero so addressing mistakes show).
pub fn matmul_cases(rng: &mut SplitMix64, m: usize, n: usize, k: usize) -> Vec<MatmulCase> {
    // forward: rows = m, outputs = n, inputs = k; weights [n, k] after a 3-element offset.
    let fwd = MatmulSpec::forward(m, k, n, 3, 3 + n * k, true);
    let dx = MatmulSpec {
        mask_scale: 2.0,
        ..MatmulSpec::input_grad(m, n, k, 5, true)
    };
    // Offsets that keep B vec4-aligned, so the vec4 and dot4 variants run these products too.
    let dx_aligned = MatmulSpec::input_grad(m, n, k, 8, false);
    let fwd_aligned = MatmulSpec::forward(m, k, n, 4, 4 + n * k, false);
    let dw = MatmulSpec {
        c_offset: 7,
        ..MatmulSpec::weight_grad(k, n, m, 7)
    };
    let plain = MatmulSpec {
        m,
        n,
        k,
        a: Strided::row_major(0, k),
        b: Strided::row_major(0, n),
        c_offset: 0,
        aux_offset: 0,
        epilogue: Epilogue::Bias,
        mask_scale: 1.0,
    };
    [
        ("X·Wᵀ+b relu", fwd),
        ("dY·W masked", dx),
        ("dYᵀ·X", dw),
        ("dY·W aligned", dx_aligned),
        ("X·Wᵀ+b aligned", fwd_aligned),
        ("A·B+b", plain),
    ]
    .into_iter()
    .map(|(name, spec)| {
        let a = random_vec(rng, spec.a_len(), -1.0, 1.0);
        let b = random_vec(rng, spec.b_len(), -1.0, 1.0);
        let aux = random_vec(rng, spec.aux_len(), -1.0, 1.0);
        MatmulCase {
            name: format!("{name} {}x{}x{}", spec.m, spec.n, spec.k),
            spec,
            a,
            b,
            aux,
        }
    })
    .collect()
}

/// Tolerance for an f32 dot product of length `k` with operands in ±1.
pub fn matmul_tolerance(k: usize) -> Tolerance {
    Tolerance::new(1e-5 * (k as f64).sqrt().max(1.0) * 4.0, 1e-4)
}

/// Checks one matmul variant on one case.
pub fn check_matmul(
    ctx: &GpuContext,
    variant: MatmulVariant,
    name: &str,
    spec: &MatmulSpec,
    a: &[f32],
    b: &[f32],
    aux: &[f32],
) -> Result<Comparison> {
    let got = kernels::matmul(ctx, variant, spec, a, b, aux)?;
    let expected = cpu::matmul(spec, &cpu::to_f64(a), &cpu::to_f64(b), &cpu::to_f64(aux));
    Ok(compare(
        &format!("matmul {} {name}", variant.name()),
        &got,
        &expected,
        matmul_tolerance(spec.k),
    ))
}

/// Checks softmax and log-softmax at one shape and temperature.
pub fn check_softmax(
    ctx: &GpuContext,
    logits: &[f32],
    rows: usize,
    cols: usize,
    temperature: f32,
) -> Result<[Comparison; 2]> {
    let (p, lp) = kernels::softmax(ctx, logits, rows, cols, temperature)?;
    let (ep, elp) = cpu::softmax(&cpu::to_f64(logits), rows, cols, temperature as f64);
    let label = format!("{rows}x{cols} T={temperature}");
    Ok([
        compare(
            &format!("softmax {label}"),
            &p,
            &ep,
            Tolerance::new(1e-6, 1e-4),
        ),
        compare(
            &format!("log-softmax {label}"),
            &lp,
            &elp,
            Tolerance::new(1e-4, 1e-5),
        ),
    ])
}

/// Checks the KD loss (gradient, per-row terms, batch loss) at one shape and setting.
pub fn check_kd_loss(
    ctx: &GpuContext,
    batch: &KdBatch<'_>,
    kd: KdConfig,
) -> Result<Vec<Comparison>> {
    let got = kernels::kd_loss(ctx, batch, kd)?;
    let KdBatch {
        student,
        teacher,
        labels,
        rows,
        cols,
    } = *batch;
    let KdConfig { temperature, alpha } = kd;
    let e = cpu::kd_loss(
        &cpu::to_f64(student),
        &cpu::to_f64(teacher),
        labels,
        rows,
        cols,
        temperature as f64,
        alpha as f64,
    );
    let label = format!("{rows}x{cols} T={temperature} α={alpha}");
    // Log-probability differences lose about ulp(|x|) each, x the logits fed to the softmax:
    // z for the hard term, z/T and t/T for the soft term.
    let max_logit = student
        .iter()
        .chain(teacher)
        .fold(1.0f64, |m, &v| m.max((v as f64).abs()));
    let t = temperature as f64;
    let ce_tol = Tolerance::new(4e-7 * max_logit + 1e-5, 1e-4);
    let kl_tol = Tolerance::new(4e-7 * max_logit / t.min(1.0).max(t) + 1e-5, 1e-4);
    let grad_tol = Tolerance::new(2e-6 / rows as f64 * (1.0 + t), 1e-4);
    let a = alpha as f64;
    let loss_tol = Tolerance::new(
        (1.0 - a) * ce_tol.atol + a * t * t * kl_tol.atol + ce_tol.atol,
        1e-4,
    );
    Ok(vec![
        compare(&format!("kd grad {label}"), &got.grad, &e.grad, grad_tol),
        compare(
            &format!("kd row ce {label}"),
            &got.row_ce,
            &e.row_ce,
            ce_tol,
        ),
        compare(
            &format!("kd row kl {label}"),
            &got.row_kl,
            &e.row_kl,
            kl_tol,
        ),
        compare(
            &format!("kd batch loss/ce/kl {label}"),
            &[got.loss, got.ce, got.kl],
            &[e.loss, e.ce, e.kl],
            loss_tol,
        ),
    ])
}

/// Checks the bias gradient.
pub fn check_bias_grad(
    ctx: &GpuContext,
    dy: &[f32],
    rows: usize,
    cols: usize,
) -> Result<Comparison> {
    let got = kernels::bias_grad(ctx, dy, rows, cols)?;
    let dy64 = cpu::to_f64(dy);
    let expected: Vec<f64> = (0..cols)
        .map(|j| (0..rows).map(|r| dy64[r * cols + j]).sum())
        .collect();
    Ok(compare(
        &format!("bias grad {rows}x{cols}"),
        &got,
        &expected,
        Tolerance::new(1e-6 * (rows as f64).sqrt() * 4.0, 1e-5),
    ))
}

/// Checks one optimizer step (parameters and state).
pub fn check_optimizer(
    ctx: &GpuContext,
    optimizer: Optimizer,
    step: u32,
    params: &[f32],
    grads: &[f32],
    state: &[Vec<f32>],
) -> Result<Vec<Comparison>> {
    let (got_p, got_s) = kernels::optimizer_step(ctx, optimizer, step, params, grads, state)?;
    let mut p = cpu::to_f64(params);
    let g = cpu::to_f64(grads);
    let mut s: Vec<Vec<f64>> = state.iter().map(|v| cpu::to_f64(v)).collect();
    cpu::optimizer_step(optimizer, step, &mut p, &g, &mut s);
    let name = match optimizer {
        Optimizer::Sgd { .. } => "sgd",
        Optimizer::AdamW { .. } => "adamw",
    };
    let tol = Tolerance::new(1e-6, 1e-5);
    let mut out = vec![compare(
        &format!("{name} params (step {step})"),
        &got_p,
        &p,
        tol,
    )];
    for (i, (gs, es)) in got_s.iter().zip(&s).enumerate() {
        out.push(compare(
            &format!("{name} state {i} (step {step})"),
            gs,
            es,
            tol,
        ));
    }
    Ok(out)
}

/// Named matmul edge shapes `(name, m, n, k)` every variant is validated on.
pub const MATMUL_EDGE_SHAPES: &[(&str, usize, usize, usize)] = &[
    ("1x1x1", 1, 1, 1),
    ("batch 1", 1, 37, 19),
    ("not multiples of tile or 4", 67, 45, 33),
    ("K much larger than M,N", 3, 5, 700),
    ("2 classes", 17, 2, 29),
    ("10 classes", 33, 10, 64),
    ("wide output", 9, 130, 13),
    ("N and K multiples of 4", 19, 36, 24),
    ("wide, multiple of 4", 5, 264, 40),
];

/// Every check of the suite, in order; `quick` trims the larger shapes.
pub fn run_suite(ctx: &GpuContext, quick: bool) -> Result<Vec<Comparison>> {
    let mut rng = SplitMix64::new(0x5eed);
    let mut out = Vec::new();
    for variant in MatmulVariant::all() {
        for &(name, m, n, k) in MATMUL_EDGE_SHAPES {
            for case in matmul_cases(&mut rng, m, n, k) {
                if variant.supports(&case.spec) {
                    out.push(case.check(ctx, variant, name)?);
                }
            }
        }
    }
    if !quick {
        for &(m, n, k) in &[(128, 800, 784), (800, 784, 128)] {
            for case in matmul_cases(&mut rng, m, n, k) {
                let variant = ctx.choose_matmul(&case.spec);
                out.push(case.check(ctx, variant, "MLP shape")?);
            }
        }
    }
    for &(rows, cols) in &[(1, 1), (1, 2), (7, 10), (33, 1000), (5, 3)] {
        for &t in &[0.5f32, 1.0, 4.0, 20.0] {
            let x = random_vec(&mut rng, rows * cols, -8.0, 8.0);
            out.extend(check_softmax(ctx, &x, rows, cols, t)?);
        }
    }
    for &(rows, cols) in &[(1, 2), (9, 10), (4, 1000)] {
        for &(t, alpha) in &[(1.0f32, 0.0f32), (4.0, 0.9), (20.0, 1.0), (0.5, 0.5)] {
            let z = random_vec(&mut rng, rows * cols, -6.0, 6.0);
            let tl = random_vec(&mut rng, rows * cols, -6.0, 6.0);
            let labels: Vec<u32> = (0..rows).map(|_| rng.below(cols) as u32).collect();
            out.extend(check_kd_loss(
                ctx,
                &KdBatch {
                    student: &z,
                    teacher: &tl,
                    labels: &labels,
                    rows,
                    cols,
                },
                KdConfig {
                    temperature: t,
                    alpha,
                },
            )?);
        }
    }
    // Extreme logits: ±1e4 and spreads of 1e4.
    let z = vec![1e4f32, -1e4, 0.0, 5e3, -1e4, 1e4, 1e4, 0.0];
    let tl = vec![-1e4f32, 1e4, 3.0, 0.0, 1e4, 1e4, -1e4, 2.0];
    for &t in &[0.5f32, 1.0, 4.0, 20.0, 100.0] {
        out.extend(check_kd_loss(
            ctx,
            &KdBatch {
                student: &z,
                teacher: &tl,
                labels: &[1, 2],
                rows: 2,
                cols: 4,
            },
            KdConfig {
                temperature: t,
                alpha: 0.5,
            },
        )?);
        out.extend(check_softmax(ctx, &z, 2, 4, t)?);
    }
    for &(rows, cols) in &[(1, 1), (128, 10), (3, 200)] {
        let dy = random_vec(&mut rng, rows * cols, -1.0, 1.0);
        out.push(check_bias_grad(ctx, &dy, rows, cols)?);
    }
    let n = 1000;
    let params = random_vec(&mut rng, n, -1.0, 1.0);
    let grads = random_vec(&mut rng, n, -1.0, 1.0);
    let sgd = Optimizer::Sgd {
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 1e-4,
    };
    out.extend(check_optimizer(
        ctx,
        sgd,
        3,
        &params,
        &grads,
        &[random_vec(&mut rng, n, -1.0, 1.0)],
    )?);
    let adamw = Optimizer::AdamW {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
    };
    let m = random_vec(&mut rng, n, -0.1, 0.1);
    let v = random_vec(&mut rng, n, 0.0, 0.01);
    out.extend(check_optimizer(ctx, adamw, 5, &params, &grads, &[m, v])?);
    Ok(out)
}
