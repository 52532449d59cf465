//! The matmul family: one strided product `C[M,N] = A[M,K]·B[K,N]` with a fused epilogue that
//! serves the forward pass (`X·Wᵀ`), the input gradient (`dY·W`) and the weight gradient
//! (`dYᵀ·X`) without transpose copies, in two designs chosen per adapter.

use std::fmt::Write as _;

use crate::shaders::MATMUL_TILED_WGSL;

/// What happens to each accumulated value before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// `C = AB`.
    Store,
    /// `C = AB + bias[col]` (bias read from the aux operand).
    Bias,
    /// `C = max(AB + bias[col], 0)`.
    BiasRelu,
    /// `C = mask_scale·AB` where `aux[row, col] > 0`, else 0: ReLU (and inverted-dropout)
    /// backward through the layer's output.
    ReluMask,
}

impl Epilogue {
    pub(crate) fn code(self) -> u32 {
        match self {
            Epilogue::Store => 0,
            Epilogue::Bias => 1,
            Epilogue::BiasRelu => 2,
            Epilogue::ReluMask => 3,
        }
    }
}

/// How an operand's elements are addressed: element `(r, c)` is at
/// `offset + r·row_stride + c·col_stride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strided {
    /// Offset of element (0, 0), in elements.
    pub offset: usize,
    /// Step between rows.
    pub row_stride: usize,
    /// Step between columns.
    pub col_stride: usize,
}

impl Strided {
    /// A row-major matrix with `cols` columns at `offset`.
    pub fn row_major(offset: usize, cols: usize) -> Self {
        Self {
            offset,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns at `offset`.
    pub fn transposed(offset: usize, cols: usize) -> Self {
        Self {
            offset,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Elements a buffer must hold for a `rows × cols` view.
    pub fn span(&self, rows: usize, cols: usize) -> usize {
        if rows == 0 || cols == 0 {
            return self.offset;
        }
        self.offset + (rows - 1) * self.row_stride + (cols - 1) * self.col_stride + 1
    }
}

/// One matmul problem: `C[M,N] (row-major at c_offset) = epilogue(A[M,K]·B[K,N])`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatmulSpec {
    /// Rows of C.
    pub m: usize,
    /// Columns of C.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// Operand A.
    pub a: Strided,
    /// Operand B.
    pub b: Strided,
    /// Offset of C in its buffer.
    pub c_offset: usize,
    /// Offset of the bias (Bias*) or mask (ReluMask) in the aux buffer.
    pub aux_offset: usize,
    /// The fused epilogue.
    pub epilogue: Epilogue,
    /// Factor applied by [`Epilogue::ReluMask`]: `1/(1 − p)` behind a dropout layer, else 1.
    pub mask_scale: f32,
}

impl MatmulSpec {
    /// Dense forward `Y[rows, out] = X[rows, in]·Wᵀ + b`, W `[out, in]` at `weight_offset` and b at
    /// `bias_offset` in the parameter buffer; ReLU fused when `relu`.
    pub fn forward(
        rows: usize,
        inputs: usize,
        outputs: usize,
        weight_offset: usize,
        bias_offset: usize,
        relu: bool,
    ) -> Self {
        Self {
            m: rows,
            n: outputs,
            k: inputs,
            a: Strided::row_major(0, inputs),
            b: Strided::transposed(weight_offset, inputs),
            c_offset: 0,
            aux_offset: bias_offset,
            epilogue: if relu {
                Epilogue::BiasRelu
            } else {
                Epilogue::Bias
            },
            mask_scale: 1.0,
        }
    }

    /// Input gradient `dX[rows, in] = dY[rows, out]·W`, masked by the previous layer's ReLU output
    /// (passed as aux) when `relu_mask`.
    pub fn input_grad(
        rows: usize,
        inputs: usize,
        outputs: usize,
        weight_offset: usize,
        relu_mask: bool,
    ) -> Self {
        Self {
            m: rows,
            n: inputs,
            k: outputs,
            a: Strided::row_major(0, outputs),
            b: Strided::row_major(weight_offset, inputs),
            c_offset: 0,
            aux_offset: 0,
            epilogue: if relu_mask {
                Epilogue::ReluMask
            } else {
                Epilogue::Store
            },
            mask_scale: 1.0,
        }
    }

    /// Weight gradient `dW[out, in] = dY[rows, out]ᵀ·X[rows, in]`, written at `grad_offset`.
    pub fn weight_grad(rows: usize, inputs: usize, outputs: usize, grad_offset: usize) -> Self {
        Self {
            m: outputs,
            n: inputs,
            k: rows,
            a: Strided::transposed(0, outputs),
            b: Strided::row_major(0, inputs),
            c_offset: grad_offset,
            aux_offset: 0,
            epilogue: Epilogue::Store,
            mask_scale: 1.0,
        }
    }

    /// Elements the A buffer must hold.
    pub fn a_len(&self) -> usize {
        self.a.span(self.m, self.k)
    }

    /// Elements the B buffer must hold.
    pub fn b_len(&self) -> usize {
        self.b.span(self.k, self.n)
    }

    /// Elements the C buffer must hold.
    pub fn c_len(&self) -> usize {
        self.c_offset + self.m * self.n
    }

    /// Elements the aux buffer must hold (at least 1: a binding cannot be empty).
    pub fn aux_len(&self) -> usize {
        match self.epilogue {
            Epilogue::Store => 1,
            Epilogue::Bias | Epilogue::BiasRelu => self.aux_offset + self.n,
            Epilogue::ReluMask => self.aux_offset + self.m * self.n,
        }
    }

    /// Floating-point operations (2 per multiply-add).
    pub fn flops(&self) -> f64 {
        2.0 * self.m as f64 * self.n as f64 * self.k as f64
    }

    /// The uniform block the kernels read.
    pub(crate) fn params(&self) -> MatmulParams {
        let u = |v: usize| v as u32;
        MatmulParams {
            m: u(self.m),
            n: u(self.n),
            k: u(self.k),
            epilogue: self.epilogue.code(),
            a_offset: u(self.a.offset),
            a_row_stride: u(self.a.row_stride),
            a_col_stride: u(self.a.col_stride),
            b_offset: u(self.b.offset),
            b_row_stride: u(self.b.row_stride),
            b_col_stride: u(self.b.col_stride),
            c_offset: u(self.c_offset),
            aux_offset: u(self.aux_offset),
            mask_scale: self.mask_scale,
            pad: [0; 3],
        }
    }
}

/// Uniform block of every matmul kernel (`MatmulParams` in `matmul_tiled.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub epilogue: u32,
    pub a_offset: u32,
    pub a_row_stride: u32,
    pub a_col_stride: u32,
    pub b_offset: u32,
    pub b_row_stride: u32,
    pub b_col_stride: u32,
    pub c_offset: u32,
    pub aux_offset: u32,
    pub mask_scale: f32,
    pub pad: [u32; 3],
}

/// Lanes per workgroup of the generated CPU-adapter kernels: llvmpipe vectorises x over 8 lanes.
pub const UNROLLED_LANES: usize = 8;

/// A matmul design and its tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatmulVariant {
    /// Workgroup-memory tiles with 4×4 register blocks (`matmul_tiled.wgsl`); workgroup
    /// `wg_x × wg_y` (each ≤ 16) computes a `4·wg_y × 4·wg_x` tile.
    Tiled {
        /// Workgroup width (override `WG_X`).
        wg_x: u32,
        /// Workgroup height (override `WG_Y`).
        wg_y: u32,
    },
    /// Generated barrier-free kernel for CPU adapters: 8 lanes along the output columns, each
    /// invocation a fully unrolled `rows × cols` block (columns interleaved by lane), so a
    /// workgroup covers `rows × 8·cols` outputs.
    Unrolled {
        /// Output rows per invocation.
        rows: u32,
        /// Output columns per invocation.
        cols: u32,
    },
    /// Like `Unrolled`, but B is read as `vec4` along its contiguous columns: lane `l` owns
    /// columns `col0 + 4·l + 32·q + 0..4`. Needs `b.col_stride == 1`, `b.offset`,
    /// `b.row_stride` and `n` multiples of 4 (see [`MatmulVariant::supports`]).
    UnrolledVec4 {
        /// Output rows per invocation.
        rows: u32,
        /// Output columns per invocation (a multiple of 4).
        cols: u32,
    },
    /// Like `Unrolled`, but A's rows and B's columns are read as `vec4` along K and combined
    /// with `dot` (the forward `X·Wᵀ`). Needs both contiguous in K, K and the offsets and
    /// strides multiples of 4 (see [`MatmulVariant::supports`]).
    UnrolledDot4 {
        /// Output rows per invocation.
        rows: u32,
        /// Output columns per invocation.
        cols: u32,
    },
}

/// Tiled configurations the crate builds.
pub const TILED_CONFIGS: &[(u32, u32)] = &[(16, 16), (8, 8)];

/// Unrolled block configurations the crate generates. Larger blocks (32×32 and up) made
/// LLVM 15's llvmpipe compile for minutes without running faster, so they are left out.
pub const UNROLLED_CONFIGS: &[(u32, u32)] = &[(4, 4), (8, 8), (16, 8), (16, 16), (32, 16)];

/// Unrolled blocks with vec4 loads of B (columns a multiple of 4).
pub const UNROLLED_VEC4_CONFIGS: &[(u32, u32)] = &[(16, 16), (32, 16)];

/// Unrolled blocks reading A and B as vec4 along K.
pub const UNROLLED_DOT4_CONFIGS: &[(u32, u32)] = &[(16, 16), (32, 16)];

impl MatmulVariant {
    /// Every variant the crate builds: the set tests and `distill validate` check.
    pub fn all() -> Vec<MatmulVariant> {
        TILED_CONFIGS
            .iter()
            .map(|&(wg_x, wg_y)| MatmulVariant::Tiled { wg_x, wg_y })
            .chain(
                UNROLLED_CONFIGS
                    .iter()
                    .map(|&(rows, cols)| MatmulVariant::Unrolled { rows, cols }),
            )
            .chain(
                UNROLLED_VEC4_CONFIGS
                    .iter()
                    .map(|&(rows, cols)| MatmulVariant::UnrolledVec4 { rows, cols }),
            )
            .chain(
                UNROLLED_DOT4_CONFIGS
                    .iter()
                    .map(|&(rows, cols)| MatmulVariant::UnrolledDot4 { rows, cols }),
            )
            .collect()
    }

    /// Output tile of one workgroup, `(rows, cols)`.
    pub fn workgroup_tile(&self) -> (usize, usize) {
        match *self {
            MatmulVariant::Tiled { wg_x, wg_y } => (4 * wg_y as usize, 4 * wg_x as usize),
            MatmulVariant::Unrolled { rows, cols }
            | MatmulVariant::UnrolledVec4 { rows, cols }
            | MatmulVariant::UnrolledDot4 { rows, cols } => {
                (rows as usize, UNROLLED_LANES * cols as usize)
            }
        }
    }

    /// Whether this variant can compute `spec` (vec4 variants need aligned, contiguous B rows).
    pub fn supports(&self, spec: &MatmulSpec) -> bool {
        match self {
            MatmulVariant::UnrolledVec4 { .. } => {
                spec.b.col_stride == 1
                    && spec.b.offset.is_multiple_of(4)
                    && spec.b.row_stride.is_multiple_of(4)
                    && spec.n.is_multiple_of(4)
            }
            MatmulVariant::UnrolledDot4 { .. } => {
                spec.a.col_stride == 1
                    && spec.b.row_stride == 1
                    && spec.k.is_multiple_of(4)
                    && spec.a.offset.is_multiple_of(4)
                    && spec.a.row_stride.is_multiple_of(4)
                    && spec.b.offset.is_multiple_of(4)
                    && spec.b.col_stride.is_multiple_of(4)
            }
            _ => true,
        }
    }

    /// Workgroups along x (columns) and y (rows) for an `m × n` output.
    pub fn workgroups(&self, m: usize, n: usize) -> (usize, usize) {
        let (tm, tn) = self.workgroup_tile();
        (n.div_ceil(tn), m.div_ceil(tm))
    }

    /// A short stable name, e.g. `tiled-16x16` or `unrolled-32x32`.
    pub fn name(&self) -> String {
        match *self {
            MatmulVariant::Tiled { wg_x, wg_y } => format!("tiled-{wg_x}x{wg_y}"),
            MatmulVariant::Unrolled { rows, cols } => format!("unrolled-{rows}x{cols}"),
            MatmulVariant::UnrolledVec4 { rows, cols } => format!("unrolled-vec4-{rows}x{cols}"),
            MatmulVariant::UnrolledDot4 { rows, cols } => format!("unrolled-dot4-{rows}x{cols}"),
        }
    }

    /// The WGSL source of this variant and the override constants its pipeline sets.
    pub fn source(&self) -> (String, Vec<(&'static str, f64)>) {
        match *self {
            MatmulVariant::Tiled { wg_x, wg_y } => (
                MATMUL_TILED_WGSL.to_string(),
                vec![("WG_X", wg_x as f64), ("WG_Y", wg_y as f64)],
            ),
            MatmulVariant::Unrolled { rows, cols } => (
                generate_unrolled_matmul(rows as usize, cols as usize),
                Vec::new(),
            ),
            MatmulVariant::UnrolledVec4 { rows, cols } => (
                generate_unrolled_vec4_matmul(rows as usize, cols as usize),
                Vec::new(),
            ),
            MatmulVariant::UnrolledDot4 { rows, cols } => (
                generate_unrolled_dot4_matmul(rows as usize, cols as usize),
                Vec::new(),
            ),
        }
    }
}

/// Which matmul design an adapter gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulFamily {
    /// CPU adapters (lavapipe, SwiftShader, WARP): generated unrolled kernels.
    Unrolled,
    /// GPUs: workgroup-memory tiles.
    Tiled,
}

impl MatmulFamily {
    /// The family for a device type: unrolled for `Cpu`, tiled otherwise.
    pub fn for_device(device_type: wgpu::DeviceType) -> Self {
        match device_type {
            wgpu::DeviceType::Cpu => MatmulFamily::Unrolled,
            _ => MatmulFamily::Tiled,
        }
    }

    /// Picks the variant for a product.
    ///
    /// Unrolled: among the generated blocks (vec4 ones where [`MatmulVariant::supports`]
    /// allows), the one with the least cost = padded outputs / per-load efficiency, counting
    /// a vec4 load of B as 1.5 scalar loads and penalising grids with fewer than
    /// `min_workgroups` workgroups (idle cores). Tiled: 16×16 unless the output is so small
    /// that 8×8 fills more workgroups.
    pub fn choose(self, spec: &MatmulSpec, min_workgroups: usize) -> MatmulVariant {
        let (m, n) = (spec.m, spec.n);
        match self {
            MatmulFamily::Tiled => {
                let big = MatmulVariant::Tiled { wg_x: 16, wg_y: 16 };
                let (x, y) = big.workgroups(m, n);
                if x * y >= min_workgroups {
                    big
                } else {
                    MatmulVariant::Tiled { wg_x: 8, wg_y: 8 }
                }
            }
            MatmulFamily::Unrolled => {
                let scalar = UNROLLED_CONFIGS
                    .iter()
                    .map(|&(rows, cols)| MatmulVariant::Unrolled { rows, cols });
                let vec4 = UNROLLED_VEC4_CONFIGS
                    .iter()
                    .map(|&(rows, cols)| MatmulVariant::UnrolledVec4 { rows, cols });
                let dot4 = UNROLLED_DOT4_CONFIGS
                    .iter()
                    .map(|&(rows, cols)| MatmulVariant::UnrolledDot4 { rows, cols });
                let mut best = MatmulVariant::Unrolled { rows: 4, cols: 4 };
                let mut best_cost = f64::INFINITY;
                for variant in scalar.chain(vec4).chain(dot4).filter(|v| v.supports(spec)) {
                    // Loads per k and lane; a vec4 load counts as 1.5 scalar ones.
                    let loads = match variant {
                        MatmulVariant::Unrolled { rows, cols } => (rows + cols) as f64,
                        MatmulVariant::UnrolledVec4 { rows, cols } => {
                            rows as f64 + 1.5 * cols as f64 / 4.0
                        }
                        MatmulVariant::UnrolledDot4 { rows, cols } => {
                            1.5 * (rows + cols) as f64 / 4.0
                        }
                        MatmulVariant::Tiled { .. } => continue,
                    };
                    let (x, y) = variant.workgroups(m, n);
                    let (tm, tn) = variant.workgroup_tile();
                    let padded = (x * tm * y * tn) as f64;
                    let fmas = (tm * tn / UNROLLED_LANES) as f64;
                    let efficiency = fmas / loads;
                    let occupancy = ((x * y) as f64 / min_workgroups as f64).min(1.0);
                    let cost = padded / (efficiency * occupancy);
                    if cost < best_cost {
                        best_cost = cost;
                        best = variant;
                    }
                }
                best
            }
        }
    }
}

/// Generates the barrier-free matmul for CPU adapters with a fully unrolled `rows × cols` block
/// per invocation (WGSL has no unroll attribute; llvmpipe needs straight-line FMAs).
///
/// Lane `l` of a workgroup owns columns `col0 + l + 8·c`, `c < cols`, so the B loads of the 8
/// lanes are contiguous; out-of-range rows and columns read a clamped (valid) element and are
/// not stored, which keeps the K loop free of branches.
pub fn generate_unrolled_matmul(rows: usize, cols: usize) -> String {
    generate_unrolled(rows, cols, 1)
}

/// Generates the vec4-B flavour of [`generate_unrolled_matmul`]: B is bound as
/// `array<vec4<f32>>`, lane `l` owns columns `col0 + 4·l + 32·q + 0..4`, and each lane loads
/// `cols / 4` vec4s per k instead of `cols` scalars.
pub fn generate_unrolled_vec4_matmul(rows: usize, cols: usize) -> String {
    generate_unrolled(rows, cols, 4)
}

/// The unrolled kernel with B read `width` (1 or 4) columns at a time.
fn generate_unrolled(rows: usize, cols: usize, width: usize) -> String {
    let interface = MATMUL_TILED_WGSL
        .split("// ---- end of the matmul interface")
        .next()
        .unwrap_or_default();
    let (interface, ty) = if width == 4 {
        let vec4_b = interface
            .replace(
                "var<storage, read> b: array<f32>;",
                "var<storage, read> b: array<vec4<f32>>;",
            )
            .replace(
                "return b[params.b_offset + kk * params.b_row_stride + col * params.b_col_stride];",
                "let i = params.b_offset + kk * params.b_row_stride + col * params.b_col_stride;\n    return b[i / 4u][i % 4u];",
            );
        (vec4_b, "vec4<f32>")
    } else {
        (interface.to_string(), "f32")
    };
    let groups = cols / width;
    let lanes = UNROLLED_LANES;
    let mut s = String::with_capacity(64 * rows * cols + 4096);
    // `write!` into a String cannot fail.
    let _ = writeln!(
        s,
        "// Generated by distill_wgpu::matmul (rows {rows}, cols {cols}, B read {width} wide).\n\
         // Barrier-free, fully unrolled block per invocation for CPU adapters.\n"
    );
    s.push_str(&interface);
    let _ = writeln!(s, "@compute @workgroup_size({lanes}, 1, 1)");
    s.push_str(
        "fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n",
    );
    let _ = writeln!(s, "    let first_row = wg.y * {rows}u;");
    let _ = writeln!(
        s,
        "    let first_col = wg.x * {}u + {width}u * lid.x;",
        lanes * cols
    );
    s.push_str("    let last_row = params.m - 1u;\n");
    let _ = writeln!(s, "    let last_group = params.n / {width}u - 1u;");
    let _ = writeln!(
        s,
        "    let b_group_stride = params.b_row_stride / {width}u;"
    );
    for r in 0..rows {
        let _ = writeln!(
            s,
            "    let a_base{r} = params.a_offset + min(first_row + {r}u, last_row) * params.a_row_stride;"
        );
    }
    for g in 0..groups {
        // For width 1 this is the column's own element; for width 4 the vec4 index (B's column
        // stride is 1 there, see `MatmulVariant::supports`).
        let _ = writeln!(
            s,
            "    let b_base{g} = params.b_offset / {width}u + min(first_col / {width}u + {}u, last_group) * params.b_col_stride;",
            lanes * g
        );
    }
    for r in 0..rows {
        for g in 0..groups {
            let _ = writeln!(s, "    var acc{r}_{g} = {ty}(0.0);");
        }
    }
    s.push_str("    var a_step = 0u;\n    var b_step = 0u;\n");
    s.push_str("    for (var kk = 0u; kk < params.k; kk++) {\n");
    for r in 0..rows {
        let _ = writeln!(s, "        let a{r} = {ty}(a[a_base{r} + a_step]);");
    }
    for g in 0..groups {
        let _ = writeln!(s, "        let b{g} = b[b_base{g} + b_step];");
    }
    for r in 0..rows {
        for g in 0..groups {
            let _ = writeln!(s, "        acc{r}_{g} = fma(a{r}, b{g}, acc{r}_{g});");
        }
    }
    s.push_str(
        "        a_step += params.a_col_stride;\n        b_step += b_group_stride;\n    }\n",
    );
    write_unrolled_epilogue(&mut s, rows, groups, width, ty);
    s
}

/// Writes the epilogue of a generated kernel: accumulators `acc{r}_{g}` (of type `ty`, `width`
/// columns each) go through an array so the bounds-checked stores stay one small loop.
fn write_unrolled_epilogue(s: &mut String, rows: usize, groups: usize, width: usize, ty: &str) {
    let lanes = UNROLLED_LANES;
    // Straight-line copies into an array keep the epilogue one small loop: unrolling the
    // bounds-checked stores as well multiplies LLVM compile time on llvmpipe.
    let _ = writeln!(s, "    var block: array<{ty}, {}>;", rows * groups);
    for r in 0..rows {
        for g in 0..groups {
            let _ = writeln!(s, "    block[{}] = acc{r}_{g};", r * groups + g);
        }
    }
    let _ = writeln!(s, "    for (var br = 0u; br < {rows}u; br++) {{");
    s.push_str("        let row = first_row + br;\n");
    s.push_str("        if row >= params.m {\n            break;\n        }\n");
    let _ = writeln!(s, "        for (var bg = 0u; bg < {groups}u; bg++) {{");
    let _ = writeln!(
        s,
        "            let col = first_col + {}u * bg;",
        lanes * width
    );
    let _ = writeln!(s, "            let v = {ty}(block[br * {groups}u + bg]);");
    let _ = writeln!(s, "            for (var e = 0u; e < {width}u; e++) {{");
    s.push_str("                if col + e < params.n {\n");
    if width == 1 {
        s.push_str("                    let x = v;\n");
    } else {
        s.push_str("                    let x = v[e];\n");
    }
    s.push_str("                    c[params.c_offset + row * params.n + col + e] = apply_epilogue(row, col + e, x);\n");
    s.push_str("                }\n            }\n        }\n    }\n}\n");
}

/// Generates the vec4-along-K kernel: both operands contiguous in K (A rows and B columns, as
/// in the forward `X·Wᵀ`), read as vec4 and combined with `dot`, so a lane issues
/// `rows + cols` vec4 loads per four k. Needs the conditions of [`MatmulVariant::supports`].
pub fn generate_unrolled_dot4_matmul(rows: usize, cols: usize) -> String {
    let interface = MATMUL_TILED_WGSL
        .split("// ---- end of the matmul interface")
        .next()
        .unwrap_or_default()
        .replace(
            "var<storage, read> a: array<f32>;",
            "var<storage, read> a: array<vec4<f32>>;",
        )
        .replace(
            "var<storage, read> b: array<f32>;",
            "var<storage, read> b: array<vec4<f32>>;",
        )
        .replace(
            "return a[params.a_offset + row * params.a_row_stride + kk * params.a_col_stride];",
            "let i = params.a_offset + row * params.a_row_stride + kk * params.a_col_stride;\n    return a[i / 4u][i % 4u];",
        )
        .replace(
            "return b[params.b_offset + kk * params.b_row_stride + col * params.b_col_stride];",
            "let i = params.b_offset + kk * params.b_row_stride + col * params.b_col_stride;\n    return b[i / 4u][i % 4u];",
        );
    let lanes = UNROLLED_LANES;
    let mut s = String::with_capacity(64 * rows * cols + 4096);
    let _ = writeln!(
        s,
        "// Generated by distill_wgpu::matmul (rows {rows}, cols {cols}, A and B read as vec4 along K).\n\
         // Barrier-free, fully unrolled block per invocation for CPU adapters.\n"
    );
    s.push_str(&interface);
    let _ = writeln!(s, "@compute @workgroup_size({lanes}, 1, 1)");
    s.push_str(
        "fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n",
    );
    let _ = writeln!(s, "    let first_row = wg.y * {rows}u;");
    let _ = writeln!(s, "    let first_col = wg.x * {}u + lid.x;", lanes * cols);
    s.push_str("    let last_row = params.m - 1u;\n    let last_col = params.n - 1u;\n");
    for r in 0..rows {
        let _ = writeln!(
            s,
            "    let a_base{r} = (params.a_offset + min(first_row + {r}u, last_row) * params.a_row_stride) / 4u;"
        );
    }
    for c in 0..cols {
        let _ = writeln!(
            s,
            "    let b_base{c} = (params.b_offset + min(first_col + {}u, last_col) * params.b_col_stride) / 4u;",
            lanes * c
        );
    }
    for r in 0..rows {
        for c in 0..cols {
            let _ = writeln!(s, "    var acc{r}_{c} = 0.0;");
        }
    }
    s.push_str("    for (var kq = 0u; kq < params.k / 4u; kq++) {\n");
    for r in 0..rows {
        let _ = writeln!(s, "        let a{r} = a[a_base{r} + kq];");
    }
    for c in 0..cols {
        let _ = writeln!(s, "        let b{c} = b[b_base{c} + kq];");
    }
    for r in 0..rows {
        for c in 0..cols {
            let _ = writeln!(s, "        acc{r}_{c} += dot(a{r}, b{c});");
        }
    }
    s.push_str("    }\n");
    write_unrolled_epilogue(&mut s, rows, cols, 1, "f32");
    s
}
