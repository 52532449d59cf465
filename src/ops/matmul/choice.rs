//! Which matmul variants may serve a product on an adapter, and the cost model that picks one
//! when nothing has been measured (`tune` measures).

use crate::gpu::MatmulFamily;
use crate::ops::matmul::layout::LayoutTile;
use crate::ops::matmul::shuffle::{family_lanes, ShuffleB, ShuffleBlock};
use crate::ops::matmul::spec::MatmulSpec;
use crate::ops::matmul::variant::{
    MatmulVariant, UNROLLED_CONFIGS, UNROLLED_DOT4_CONFIGS, UNROLLED_VEC4_CONFIGS,
};

/// What the choice of a matmul variant depends on about the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdapterShape {
    /// The family the adapter gets.
    pub family: MatmulFamily,
    /// Lanes of the adapter's subgroups when it offers `Features::SUBGROUP` with one fixed
    /// size the subgroup family is generated for; `None` otherwise.
    pub shuffle_lanes: Option<u32>,
    /// Workgroups a product should at least have to keep the adapter busy.
    pub min_workgroups: usize,
}

impl AdapterShape {
    /// The subgroup lane count the subgroup family can use here, if any.
    fn lanes(&self) -> Option<u32> {
        family_lanes(self.shuffle_lanes)
    }
}

/// The variants that may serve `spec` on `adapter`, the ones measurement chooses among.
///
/// CPU adapters with subgroups get the subgroup family, without them the unrolled ones; GPUs
/// get the tiled kernel and the layout-specialised tiles. Every variant in the set accumulates
/// k in ascending order with one `fma` per product, so on one adapter the choice changes speed,
/// not results (`tests/matmul_tuning.rs`). The `dot` form sums in another order and is left to
/// the cost model.
pub fn candidates(adapter: &AdapterShape, spec: &MatmulSpec) -> Vec<MatmulVariant> {
    let all: Vec<MatmulVariant> = match (adapter.family, adapter.lanes()) {
        (MatmulFamily::Unrolled, Some(lanes)) => {
            let blocks = ShuffleBlock::all(lanes);
            // Scalar loads of B only where no vec4 form applies: they never won where one did.
            let vec4 = blocks
                .iter()
                .any(|b| b.b != ShuffleB::Scalar && b.supports(spec));
            blocks
                .into_iter()
                .filter(|b| !vec4 || b.b != ShuffleB::Scalar)
                .map(MatmulVariant::Shuffle)
                .collect()
        }
        (MatmulFamily::Unrolled, None) => UNROLLED_CONFIGS
            .iter()
            .map(|&(rows, cols)| MatmulVariant::Unrolled { rows, cols })
            .chain(
                UNROLLED_VEC4_CONFIGS
                    .iter()
                    .map(|&(rows, cols)| MatmulVariant::UnrolledVec4 { rows, cols }),
            )
            .collect(),
        (MatmulFamily::Tiled, _) => [(16, 16), (8, 8)]
            .iter()
            .map(|&(wg_x, wg_y)| MatmulVariant::Tiled { wg_x, wg_y })
            .chain(LayoutTile::all().into_iter().map(MatmulVariant::Layout))
            .collect(),
    };
    all.into_iter().filter(|v| v.supports(spec)).collect()
}

/// The cost model's pick among [`candidates`], used until (or instead of) a measurement.
///
/// CPU families: the least padded outputs / (multiply-adds per load) / occupancy, a `vec4`
/// load counting as 1.5 scalar ones and grids with fewer than `min_workgroups` workgroups
/// penalised (idle cores). GPUs: the tiled 16×16 unless the output is so small that 8×8 fills
/// more workgroups (the layout tiles are chosen only by measurement).
pub fn choose_variant(adapter: &AdapterShape, spec: &MatmulSpec) -> MatmulVariant {
    let (m, n) = (spec.m, spec.n);
    if adapter.family == MatmulFamily::Tiled {
        let big = MatmulVariant::Tiled { wg_x: 16, wg_y: 16 };
        let (x, y) = big.workgroups(m, n);
        return if x * y >= adapter.min_workgroups {
            big
        } else {
            MatmulVariant::Tiled { wg_x: 8, wg_y: 8 }
        };
    }
    let mut options = candidates(adapter, spec);
    if adapter.lanes().is_none() {
        options.extend(
            UNROLLED_DOT4_CONFIGS
                .iter()
                .map(|&(rows, cols)| MatmulVariant::UnrolledDot4 { rows, cols })
                .filter(|v| v.supports(spec)),
        );
    }
    let mut best = MatmulVariant::Unrolled { rows: 4, cols: 4 };
    let mut best_cost = f64::INFINITY;
    for variant in options {
        let Some((loads, fmas)) = loads_and_fmas_per_k(variant) else {
            continue;
        };
        let (x, y) = variant.workgroups(m, n);
        let (tm, tn) = variant.workgroup_tile();
        let padded = (x * tm * y * tn) as f64;
        let occupancy = ((x * y) as f64 / adapter.min_workgroups.max(1) as f64).min(1.0);
        let cost = padded * loads / (fmas * occupancy);
        if cost < best_cost {
            best_cost = cost;
            best = variant;
        }
    }
    best
}

/// Loads a lane issues and multiply-adds it does per k, for the CPU families.
fn loads_and_fmas_per_k(variant: MatmulVariant) -> Option<(f64, f64)> {
    match variant {
        MatmulVariant::Unrolled { rows, cols } => {
            Some(((rows + cols) as f64, rows as f64 * cols as f64))
        }
        MatmulVariant::UnrolledVec4 { rows, cols } => Some((
            rows as f64 + 1.5 * cols as f64 / 4.0,
            rows as f64 * cols as f64,
        )),
        MatmulVariant::UnrolledDot4 { rows, cols } => {
            Some((1.5 * (rows + cols) as f64 / 4.0, rows as f64 * cols as f64))
        }
        MatmulVariant::Shuffle(block) => Some(block.loads_and_fmas_per_k()),
        MatmulVariant::Tiled { .. } | MatmulVariant::Layout(_) => None,
    }
}
