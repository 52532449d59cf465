//! The layout-specialised matmul family for GPUs (`shaders/matmul/layout.wgsl`), in the form
//! published WebGPU matmuls use: the operands' layout (NN, NT, TN) fixed when the pipeline is
//! created, `vec4` global loads along each operand's contiguous dimension, 64×64 output tiles
//! staged through double-buffered, padded workgroup memory in K-slices of 8, and 4×8 or 8×8
//! outputs per invocation.
//!
//! Every output accumulates k in ascending order with one `fma` per product, like the tiled
//! kernel, so on one adapter the choice between them changes speed, not the result.

use crate::gpu::ShaderSource;
use crate::ops::matmul::spec::{MatmulSpec, Strided};
use crate::ops::matmul::UNIFORM_SIZE;

/// The layout kernel's file (its overrides default to NT with 8×8 blocks).
pub const SHADER: ShaderSource = shader_source! {
    name: "matmul_layout",
    entry_point: "matmul",
    files: ["shaders/matmul/layout.wgsl"],
    uniform_size: UNIFORM_SIZE,
};

/// Output tile of one workgroup, rows and columns (`TILE` in the WGSL).
pub const LAYOUT_TILE: usize = 64;

/// Per-invocation blocks `(rows, cols)` the crate builds, for every layout: 8×8 (64
/// invocations, most reuse per load) and 4×8 (128 invocations, more latency hiding).
pub const LAYOUT_BLOCKS: &[(u32, u32)] = &[(8, 8), (4, 8)];

/// Which operands are contiguous along K, fixed per pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductLayout {
    /// A row-major, B row-major (`dY·W`).
    Nn,
    /// A row-major, B transposed (`X·Wᵀ`).
    Nt,
    /// A transposed, B row-major (`dYᵀ·X`).
    Tn,
}

impl ProductLayout {
    /// Every layout.
    pub const ALL: [ProductLayout; 3] = [ProductLayout::Nn, ProductLayout::Nt, ProductLayout::Tn];

    /// The value of the WGSL override `LAYOUT`.
    fn code(self) -> u32 {
        match self {
            ProductLayout::Nn => 0,
            ProductLayout::Nt => 1,
            ProductLayout::Tn => 2,
        }
    }
}

/// One layout-specialised tile configuration: a 64×64 output tile per workgroup, each
/// invocation a `block_m × block_n` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayoutTile {
    /// The operands' layout.
    pub layout: ProductLayout,
    /// Output rows per invocation: 4 or 8.
    pub block_m: u32,
    /// Output columns per invocation: 4 or 8 (not 4 when `block_m` is).
    pub block_n: u32,
}

impl LayoutTile {
    /// Every configuration the crate builds: each layout with each of [`LAYOUT_BLOCKS`].
    pub fn all() -> Vec<LayoutTile> {
        ProductLayout::ALL
            .iter()
            .flat_map(|&layout| {
                LAYOUT_BLOCKS
                    .iter()
                    .map(move |&(block_m, block_n)| LayoutTile {
                        layout,
                        block_m,
                        block_n,
                    })
            })
            .collect()
    }

    /// A short stable name, e.g. `layout-nt-64x64-8x8` (tile, then block rows × columns).
    pub fn name(&self) -> String {
        let layout = match self.layout {
            ProductLayout::Nn => "nn",
            ProductLayout::Nt => "nt",
            ProductLayout::Tn => "tn",
        };
        format!(
            "layout-{layout}-{LAYOUT_TILE}x{LAYOUT_TILE}-{}x{}",
            self.block_m, self.block_n
        )
    }

    /// Output tile of one workgroup, `(rows, cols)`.
    pub fn workgroup_tile(&self) -> (usize, usize) {
        (LAYOUT_TILE, LAYOUT_TILE)
    }

    /// Whether the kernel's fixed staging fits this block: 4 or 8 per side and at most 128
    /// invocations, so a slice is 1 or 2 `vec4` loads per operand and invocation.
    fn block_is_built(&self) -> bool {
        let side = |v: u32| v == 4 || v == 8;
        side(self.block_m) && side(self.block_n) && self.block_m * self.block_n >= 32
    }

    /// Whether this configuration can compute `spec`.
    ///
    /// A and B are bound as `vec4` arrays, so each operand must be contiguous along the
    /// dimension its layout loads (stride 1) with its offset and other stride multiples of 4,
    /// and that dimension's extent a multiple of 4 so no `vec4` straddles the edge of the
    /// operand (past its end it could lie beyond the buffer's last whole `vec4`):
    /// - NN: A along K (`k % 4`), B along N (`n % 4`),
    /// - NT: A and B along K (`k % 4`),
    /// - TN: A along M (`m % 4`), B along N (`n % 4`).
    ///
    /// Any M, N, K beyond that: partial tiles and K-slices are zero-filled.
    pub fn supports(&self, spec: &MatmulSpec) -> bool {
        // `along` is the operand's stride-1 dimension, `across` the other stride.
        let aligned = |s: &Strided, along: usize, across: usize, extent: usize| {
            along == 1
                && s.offset.is_multiple_of(4)
                && across.is_multiple_of(4)
                && extent.is_multiple_of(4)
        };
        let (a, b) = (&spec.a, &spec.b);
        let a_along_k = aligned(a, a.col_stride, a.row_stride, spec.k);
        let a_along_m = aligned(a, a.row_stride, a.col_stride, spec.m);
        let b_along_k = aligned(b, b.row_stride, b.col_stride, spec.k);
        let b_along_n = aligned(b, b.col_stride, b.row_stride, spec.n);
        self.block_is_built()
            && match self.layout {
                ProductLayout::Nn => a_along_k && b_along_n,
                ProductLayout::Nt => a_along_k && b_along_k,
                ProductLayout::Tn => a_along_m && b_along_n,
            }
    }

    /// The WGSL source and the override constants its pipeline sets.
    pub fn source(&self) -> (String, Vec<(&'static str, f64)>) {
        (
            SHADER.source.to_string(),
            vec![
                ("LAYOUT", self.layout.code() as f64),
                ("BLOCK_M", self.block_m as f64),
                ("BLOCK_N", self.block_n as f64),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::matmul::TILED_WGSL;

    /// The text from `struct MatmulParams` to the end-of-interface marker.
    fn interface(source: &str) -> &str {
        let start = source.find("struct MatmulParams").expect("uniform struct");
        let end = source
            .find("// ---- end of the matmul interface")
            .expect("interface marker");
        &source[start..end]
    }

    #[test]
    fn the_interface_is_the_tiled_one_with_vec4_operands() {
        let tiled = interface(TILED_WGSL);
        let loaders = tiled.find("fn load_a(").expect("load_a");
        let epilogue = tiled.find("fn apply_epilogue(").expect("apply_epilogue");
        let expected = format!("{}{}", &tiled[..loaders], &tiled[epilogue..])
            .replace(
                "var<storage, read> a: array<f32>;",
                "var<storage, read> a: array<vec4<f32>>;",
            )
            .replace(
                "var<storage, read> b: array<f32>;",
                "var<storage, read> b: array<vec4<f32>>;",
            );
        assert_eq!(interface(SHADER.source), expected);
    }

    #[test]
    fn names_are_unique_and_every_built_block_is_valid() {
        let all = LayoutTile::all();
        let mut names: Vec<String> = all.iter().map(LayoutTile::name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert!(all.iter().all(LayoutTile::block_is_built));
        assert!(names.contains(&"layout-nt-64x64-8x8".to_string()));
    }

    #[test]
    fn supports_follows_the_contiguous_dimension() {
        let tile = |layout| LayoutTile {
            layout,
            block_m: 8,
            block_n: 8,
        };
        let (nn, nt, tn) = (
            tile(ProductLayout::Nn),
            tile(ProductLayout::Nt),
            tile(ProductLayout::Tn),
        );
        let fwd = MatmulSpec::forward(5, 12, 7, 4, 0, false);
        assert!(nt.supports(&fwd) && !nn.supports(&fwd) && !tn.supports(&fwd));
        assert!(!nt.supports(&MatmulSpec::forward(5, 12, 7, 3, 0, false)));
        assert!(!nt.supports(&MatmulSpec::forward(5, 10, 7, 4, 0, false)));
        let dx = MatmulSpec::input_grad(5, 12, 8, 4, false);
        assert!(nn.supports(&dx) && !nt.supports(&dx) && !tn.supports(&dx));
        assert!(!nn.supports(&MatmulSpec::input_grad(5, 10, 8, 4, false)));
        let dw = MatmulSpec::weight_grad(5, 12, 8, 1);
        assert!(tn.supports(&dw) && !nn.supports(&dw) && !nt.supports(&dw));
        assert!(!tn.supports(&MatmulSpec::weight_grad(5, 12, 6, 1)));
        let small = LayoutTile {
            block_m: 4,
            block_n: 4,
            ..nt
        };
        assert!(!small.supports(&fwd));
    }
}
