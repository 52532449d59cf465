//! The matmul designs and their tunables, and the choice of one per product.

use crate::ops::matmul::codegen::{
    generate_unrolled_dot4_matmul, generate_unrolled_matmul, generate_unrolled_vec4_matmul,
};
use crate::ops::matmul::layout::LayoutTile;
use crate::ops::matmul::shuffle::{family_lanes, ShuffleBlock, SHUFFLE_LANES};
use crate::ops::matmul::spec::MatmulSpec;
use crate::ops::matmul::{TILED_WGSL, UNROLLED_LANES};

/// A matmul design and its tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatmulVariant {
    /// Workgroup-memory tiles with 4×4 register blocks (`shaders/matmul/tiled.wgsl`); workgroup
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
    /// Generated subgroup kernel for CPU adapters that offer subgroups
    /// ([`ShuffleBlock`]): A read lane-parallel and
    /// broadcast with `subgroupShuffle`, K unrolled by the lane count.
    Shuffle(ShuffleBlock),
    /// Layout-specialised tiles for GPUs ([`LayoutTile`]).
    Layout(LayoutTile),
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
    /// Every variant the crate builds, the subgroup family at every lane count: the set the
    /// shader tests translate. [`MatmulVariant::runnable`] is the part an adapter can run.
    pub fn all() -> Vec<MatmulVariant> {
        let mut all = Self::portable();
        for &lanes in SHUFFLE_LANES {
            all.extend(
                ShuffleBlock::all(lanes)
                    .into_iter()
                    .map(MatmulVariant::Shuffle),
            );
        }
        all
    }

    /// The variants an adapter whose subgroups have `shuffle_lanes` lanes (`None`: no
    /// subgroups, or a size that varies) can run: every portable one, and the subgroup family
    /// at that lane count. `distill validate` checks each of them.
    pub fn runnable(shuffle_lanes: Option<u32>) -> Vec<MatmulVariant> {
        let mut all = Self::portable();
        if let Some(lanes) = family_lanes(shuffle_lanes) {
            all.extend(
                ShuffleBlock::all(lanes)
                    .into_iter()
                    .map(MatmulVariant::Shuffle),
            );
        }
        all
    }

    /// The variants every adapter can run (no subgroups).
    fn portable() -> Vec<MatmulVariant> {
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
            .chain(LayoutTile::all().into_iter().map(MatmulVariant::Layout))
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
            MatmulVariant::Shuffle(block) => block.workgroup_tile(),
            MatmulVariant::Layout(tile) => tile.workgroup_tile(),
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
            MatmulVariant::Shuffle(block) => block.supports(spec),
            MatmulVariant::Layout(tile) => tile.supports(spec),
            MatmulVariant::Tiled { .. } | MatmulVariant::Unrolled { .. } => true,
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
            MatmulVariant::Shuffle(block) => block.name(),
            MatmulVariant::Layout(tile) => tile.name(),
        }
    }

    /// The override constants this variant's pipeline sets.
    pub fn overrides(&self) -> Vec<(&'static str, f64)> {
        match *self {
            MatmulVariant::Tiled { wg_x, wg_y } => {
                vec![("WG_X", wg_x as f64), ("WG_Y", wg_y as f64)]
            }
            MatmulVariant::Layout(tile) => tile.source().1,
            _ => Vec::new(),
        }
    }

    /// The WGSL source of this variant and the override constants its pipeline sets.
    pub fn source(&self) -> (String, Vec<(&'static str, f64)>) {
        match *self {
            MatmulVariant::Tiled { .. } => (TILED_WGSL.to_string(), self.overrides()),
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
            MatmulVariant::Shuffle(block) => (block.source(), Vec::new()),
            MatmulVariant::Layout(tile) => tile.source(),
        }
    }
}
