//! Validation of every matmul variant against the f64 reference: the three products of an MLP
//! layer (and a plain biased product) at named edge shapes, with offsets that expose
//! addressing mistakes, plus the MLP's own shapes.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::ops::check::{compare, random_vec, Comparison, Tolerance};
use crate::ops::matmul::reference;
use crate::ops::matmul::{choose, matmul, Epilogue, MatmulSpec, MatmulVariant, Strided};
use crate::rng::SplitMix64;
use crate::util::to_f64;
use maybe_async::maybe_async;

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
    #[maybe_async]
    pub async fn check(
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
        .await
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
    // Vec4-aligned offsets with strides wider than the extent, so the layout tiles run their
    // NT (any M, N) and TN (M and N multiples of 4) forms and a stride/extent mix-up shows.
    let fwd_padded = MatmulSpec {
        a: Strided {
            offset: 4,
            row_stride: k + 4,
            col_stride: 1,
        },
        b: Strided {
            offset: 8,
            row_stride: 1,
            col_stride: k + 8,
        },
        aux_offset: 4,
        ..MatmulSpec::forward(m, k, n, 0, 0, true)
    };
    let dw_padded = MatmulSpec {
        a: Strided {
            offset: 4,
            row_stride: 1,
            col_stride: m + 4,
        },
        b: Strided {
            offset: 8,
            row_stride: n + 4,
            col_stride: 1,
        },
        c_offset: 3,
        ..MatmulSpec::weight_grad(k, n, m, 0)
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
        ("X·Wᵀ+b relu padded", fwd_padded),
        ("dYᵀ·X padded", dw_padded),
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
#[maybe_async]
pub async fn check_matmul(
    ctx: &GpuContext,
    variant: MatmulVariant,
    name: &str,
    spec: &MatmulSpec,
    a: &[f32],
    b: &[f32],
    aux: &[f32],
) -> Result<Comparison> {
    let got = matmul(ctx, variant, spec, a, b, aux).await?;
    let expected = reference::matmul(spec, &to_f64(a), &to_f64(b), &to_f64(aux));
    Ok(compare(
        &format!("matmul {} {name}", variant.name()),
        &got,
        &expected,
        matmul_tolerance(spec.k),
    ))
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
    // Bigger than one 64×64 tile: several tiles with partial ones at the edges, K-slices of 8
    // with a partial last one, and whole tiles over many slices.
    ("several tiles, partial edges", 132, 136, 68),
    ("whole 64x64 tiles", 128, 64, 96),
];

/// Every variant on every edge shape (where it applies), then (unless `quick`) the variant
/// the context chooses on the MLP's shapes.
#[maybe_async]
pub async fn suite(ctx: &GpuContext, rng: &mut SplitMix64, quick: bool) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for variant in MatmulVariant::runnable(ctx.subgroup_lanes()) {
        for &(name, m, n, k) in MATMUL_EDGE_SHAPES {
            for case in matmul_cases(rng, m, n, k) {
                if variant.supports(&case.spec) {
                    out.push(case.check(ctx, variant, name).await?);
                }
            }
        }
    }
    if !quick {
        for &(m, n, k) in &[(128, 800, 784), (800, 784, 128)] {
            for case in matmul_cases(rng, m, n, k) {
                let variant = choose(ctx, &case.spec);
                out.push(case.check(ctx, variant, "MLP shape").await?);
            }
        }
    }
    Ok(out)
}
