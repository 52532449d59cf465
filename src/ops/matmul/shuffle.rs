//! The subgroup matmul family for CPU adapters, generated as WGSL text.
//!
//! Shaped for how llvmpipe compiles compute shaders (Mesa 22.3, `lp_bld_nir_soa.c`): every
//! storage load inside a loop is a runtime loop over the SIMD lanes, one scalar load per lane
//! and component, even when every lane reads the same address; `fma` is split into a multiply
//! and an add; a loop-carried value is stored once per iteration. So each kernel
//! - unrolls K by the lane count inside the loop body, so accumulators are stored once per
//!   `lanes` k,
//! - reads the operand every lane shares (A) lane-parallel, lane `l` reading `a[row, k0 + l]`,
//!   and hands each k's value to every lane with `subgroupShuffle(v, j)` (one shuffle instead
//!   of a per-lane load loop),
//! - reads the lane-owned operand (B) as `vec4` along whichever of N or K is contiguous.
//!
//! Every kernel accumulates k in ascending order with one `fma` per product, like the other
//! families, so on one adapter the choice of block changes speed, not the result.

use std::fmt::Write as _;

use crate::ops::matmul::spec::MatmulSpec;

/// How the lane-owned operand B is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShuffleB {
    /// One scalar per column and k; any strides.
    Scalar,
    /// `vec4` along N: a lane owns 4 adjacent columns (B's columns contiguous, as in `dY·W` and
    /// `dYᵀ·X`).
    AlongN,
    /// `vec4` along K: one load gives 4 k of a column (B's rows contiguous, as in `X·Wᵀ`).
    AlongK,
}

impl ShuffleB {
    fn tag(self) -> &'static str {
        match self {
            ShuffleB::Scalar => "bs",
            ShuffleB::AlongN => "bn4",
            ShuffleB::AlongK => "bk4",
        }
    }

    /// Columns a lane owns per group.
    fn width(self) -> usize {
        match self {
            ShuffleB::AlongN => 4,
            _ => 1,
        }
    }
}

/// One generated subgroup kernel: workgroups of `lanes` invocations (the adapter's subgroup
/// size), each owning `rows` output rows and `groups` column groups (of 4 columns for
/// [`ShuffleB::AlongN`], else 1), with K unrolled by `lanes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShuffleBlock {
    /// SIMD lanes per workgroup, equal to the subgroup size (8, or 16 with 512-bit llvmpipe).
    pub lanes: u32,
    /// Output rows per invocation.
    pub rows: u32,
    /// Column groups per invocation.
    pub groups: u32,
    /// How B is read.
    pub b: ShuffleB,
}

/// `(rows, groups)` blocks generated for each B form: the spike's fastest per product on
/// lavapipe at 8 and 16 lanes and their neighbours, up to 64 accumulators a lane (larger
/// blocks spill), so measurement has a choice.
const BLOCKS: &[(ShuffleB, &[(u32, u32)])] = &[
    (
        ShuffleB::AlongN,
        &[(12, 1), (16, 1), (24, 1), (32, 1), (16, 2)],
    ),
    (
        ShuffleB::AlongK,
        &[(8, 2), (12, 2), (16, 2), (32, 2), (16, 1)],
    ),
    (ShuffleB::Scalar, &[(8, 2), (16, 2), (32, 2)]),
];

/// Subgroup sizes the family is generated for: llvmpipe's 128-, 256- and 512-bit vectors.
pub const SHUFFLE_LANES: &[u32] = &[4, 8, 16];

/// The lane count the family runs at on an adapter whose fixed subgroup size is `lanes`:
/// `None` where it has none, or one the family is not generated for.
pub fn family_lanes(lanes: Option<u32>) -> Option<u32> {
    lanes.filter(|l| SHUFFLE_LANES.contains(l))
}

impl ShuffleBlock {
    /// Every block for `lanes`.
    pub fn all(lanes: u32) -> Vec<ShuffleBlock> {
        BLOCKS
            .iter()
            .flat_map(|&(b, blocks)| {
                blocks.iter().map(move |&(rows, groups)| ShuffleBlock {
                    lanes,
                    rows,
                    groups,
                    b,
                })
            })
            .collect()
    }

    /// A short stable name, e.g. `shuffle8-r16g2-bk4`.
    pub fn name(&self) -> String {
        format!(
            "shuffle{}-r{}g{}-{}",
            self.lanes,
            self.rows,
            self.groups,
            self.b.tag()
        )
    }

    /// Output tile of one workgroup, `(rows, cols)`.
    pub fn workgroup_tile(&self) -> (usize, usize) {
        let cols = self.lanes as usize * self.groups as usize * self.b.width();
        (self.rows as usize, cols)
    }

    /// Whether this block can compute `spec`: the vec4 forms need B contiguous and aligned
    /// along their axis.
    pub fn supports(&self, spec: &MatmulSpec) -> bool {
        let b = &spec.b;
        match self.b {
            ShuffleB::Scalar => true,
            ShuffleB::AlongN => {
                b.col_stride == 1
                    && b.offset.is_multiple_of(4)
                    && b.row_stride.is_multiple_of(4)
                    && spec.n.is_multiple_of(4)
            }
            ShuffleB::AlongK => {
                b.row_stride == 1 && b.offset.is_multiple_of(4) && b.col_stride.is_multiple_of(4)
            }
        }
    }

    /// Loads a lane issues per k, a `vec4` counting as 1.5 scalar loads, and multiply-adds it
    /// does per k: the cost model's efficiency when no measurement is at hand.
    pub fn loads_and_fmas_per_k(&self) -> (f64, f64) {
        let (rows, groups) = (self.rows as f64, self.groups as f64);
        let a = rows / self.lanes as f64;
        let b = match self.b {
            ShuffleB::Scalar => groups,
            ShuffleB::AlongN => 1.5 * groups,
            ShuffleB::AlongK => 1.5 * groups / 4.0,
        };
        (a + b, rows * groups * self.b.width() as f64)
    }

    /// The kernel's WGSL.
    pub fn source(&self) -> String {
        generate_shuffle_matmul(self)
    }
}

/// Generates the WGSL of `block`. The matmul interface (bindings, uniform, epilogue) is cut
/// from `shaders/matmul/tiled.wgsl`; B is bound as `array<vec4<f32>>` for the vec4 forms.
pub fn generate_shuffle_matmul(block: &ShuffleBlock) -> String {
    let lanes = block.lanes as usize;
    let rows = block.rows as usize;
    let groups = block.groups as usize;
    let width = block.b.width();
    let vec_b = block.b != ShuffleB::Scalar;
    let interface = super::codegen::matmul_interface(false, vec_b);
    let acc_ty = if width == 4 { "vec4<f32>" } else { "f32" };
    let mut s = String::with_capacity(96 * rows * groups * lanes + 4096);
    // `write!` into a String cannot fail.
    let _ = writeln!(
        s,
        "// Generated by distill_wgpu::ops::matmul::shuffle ({}): {lanes} lanes, {rows} rows x {groups} groups, B {}.\n\
         // A read lane-parallel and broadcast with subgroupShuffle; K unrolled by {lanes}.\n",
        block.name(),
        block.b.tag()
    );
    s.push_str(&interface);
    let _ = writeln!(s, "@compute @workgroup_size({lanes}, 1, 1)");
    s.push_str(
        "fn matmul(\n    @builtin(workgroup_id) wg: vec3<u32>,\n    @builtin(local_invocation_id) lid: vec3<u32>,\n    @builtin(subgroup_invocation_id) sid: u32,\n) {\n",
    );
    let _ = writeln!(s, "    let first_row = wg.y * {rows}u;");
    let _ = writeln!(
        s,
        "    let first_col = wg.x * {}u + {width}u * lid.x;",
        lanes * groups * width
    );
    s.push_str("    let last_row = params.m - 1u;\n");
    for r in 0..rows {
        let _ = writeln!(
            s,
            "    let a_base{r} = params.a_offset + min(first_row + {r}u, last_row) * params.a_row_stride;"
        );
    }
    // B bases: an element index (scalar) or a vec4 index (vec4 forms); out-of-range columns
    // read a clamped valid element and are not stored.
    for g in 0..groups {
        let step = lanes * g;
        let _ = match block.b {
            ShuffleB::Scalar => writeln!(
                s,
                "    let b_base{g} = params.b_offset + min(first_col + {step}u, params.n - 1u) * params.b_col_stride;"
            ),
            ShuffleB::AlongN => writeln!(
                s,
                "    let b_base{g} = params.b_offset / 4u + min(first_col / 4u + {step}u, params.n / 4u - 1u);"
            ),
            ShuffleB::AlongK => writeln!(
                s,
                "    let b_base{g} = (params.b_offset + min(first_col + {step}u, params.n - 1u) * params.b_col_stride) / 4u;"
            ),
        };
    }
    if block.b == ShuffleB::AlongN {
        s.push_str("    let b_row_step = params.b_row_stride / 4u;\n");
    }
    for r in 0..rows {
        for g in 0..groups {
            let _ = writeln!(s, "    var acc{r}_{g} = {acc_ty}(0.0);");
        }
    }
    let _ = writeln!(s, "    let k_main = params.k - params.k % {lanes}u;");
    let _ = writeln!(s, "    for (var k0 = 0u; k0 < k_main; k0 += {lanes}u) {{");
    for r in 0..rows {
        let _ = writeln!(
            s,
            "        let av{r} = a[a_base{r} + (k0 + sid) * params.a_col_stride];"
        );
    }
    if block.b == ShuffleB::AlongK {
        for g in 0..groups {
            for q in 0..lanes / 4 {
                let _ = writeln!(s, "        let bq{g}_{q} = b[b_base{g} + k0 / 4u + {q}u];");
            }
        }
    }
    for j in 0..lanes {
        for r in 0..rows {
            let _ = writeln!(s, "        let a{r}_{j} = subgroupShuffle(av{r}, {j}u);");
        }
        for g in 0..groups {
            let _ = match block.b {
                ShuffleB::Scalar => writeln!(
                    s,
                    "        let b{g}_{j} = b[b_base{g} + (k0 + {j}u) * params.b_row_stride];"
                ),
                ShuffleB::AlongN => writeln!(
                    s,
                    "        let b{g}_{j} = b[b_base{g} + (k0 + {j}u) * b_row_step];"
                ),
                ShuffleB::AlongK => {
                    writeln!(s, "        let b{g}_{j} = bq{g}_{}[{}];", j / 4, j % 4)
                }
            };
        }
        for r in 0..rows {
            for g in 0..groups {
                let a = if width == 4 {
                    format!("vec4<f32>(a{r}_{j})")
                } else {
                    format!("a{r}_{j}")
                };
                let _ = writeln!(s, "        acc{r}_{g} = fma({a}, b{g}_{j}, acc{r}_{g});");
            }
        }
    }
    s.push_str("    }\n");
    // The K % lanes tail: plain per-k loads, in the same k order.
    s.push_str("    for (var kk = k_main; kk < params.k; kk++) {\n");
    for r in 0..rows {
        let _ = writeln!(
            s,
            "        let a{r} = {acc_ty}(a[a_base{r} + kk * params.a_col_stride]);"
        );
    }
    for g in 0..groups {
        let _ = match block.b {
            ShuffleB::Scalar => writeln!(
                s,
                "        let b{g} = b[b_base{g} + kk * params.b_row_stride];"
            ),
            ShuffleB::AlongN => writeln!(s, "        let b{g} = b[b_base{g} + kk * b_row_step];"),
            ShuffleB::AlongK => writeln!(s, "        let b{g} = b[b_base{g} + kk / 4u][kk % 4u];"),
        };
    }
    for r in 0..rows {
        for g in 0..groups {
            let _ = writeln!(s, "        acc{r}_{g} = fma(a{r}, b{g}, acc{r}_{g});");
        }
    }
    s.push_str("    }\n");
    super::codegen::write_epilogue(&mut s, lanes, rows, groups, width, acc_ty);
    s
}
