// Tiled matmul for discrete and integrated GPUs: C[M,N] = A[M,K] · B[K,N], with fused epilogue.
//
// Operands are addressed through strides, so one kernel serves the three products an MLP needs
// without transpose copies:
//   forward   Y  = X · Wᵀ   A = X  [M,K] row-major, B(k,j) = W[j,k]
//   input grad dX = dY · W  A = dY [M,K] row-major, B(k,j) = W[k,j]
//   weight grad dW = dYᵀ · X A(i,k) = dY[k,i],     B = X row-major
// Each workgroup computes a (WG_Y·4)×(WG_X·4) output tile staged through workgroup memory in
// K-slices of 16; each invocation owns a 4×4 register block. Interior tiles load without
// bounds checks.

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    // 0: C = AB; 1: C = AB + bias; 2: C = relu(AB + bias);
    // 3: C = mask_scale·AB where mask > 0 (ReLU and dropout backward through the layer output).
    epilogue: u32,
    a_offset: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    b_offset: u32,
    b_row_stride: u32,
    b_col_stride: u32,
    c_offset: u32,
    aux_offset: u32,
    // Epilogue 3 multiplies by this: 1/(1 − p) when the layer used inverted dropout, else 1.
    mask_scale: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn load_a(row: u32, kk: u32) -> f32 {
    return a[params.a_offset + row * params.a_row_stride + kk * params.a_col_stride];
}

fn load_b(kk: u32, col: u32) -> f32 {
    return b[params.b_offset + kk * params.b_row_stride + col * params.b_col_stride];
}

fn apply_epilogue(row: u32, col: u32, acc: f32) -> f32 {
    switch params.epilogue {
        case 1u: {
            return acc + aux[params.aux_offset + col];
        }
        case 2u: {
            return max(acc + aux[params.aux_offset + col], 0.0);
        }
        case 3u: {
            return select(0.0, acc * params.mask_scale, aux[params.aux_offset + row * params.n + col] > 0.0);
        }
        default: {
            return acc;
        }
    }
}

// ---- end of the matmul interface shared with the generated CPU-adapter kernels ----

override WG_X: u32 = 16u;
override WG_Y: u32 = 16u;
const BLOCK: u32 = 4u;
const TILE_K: u32 = 16u;
// Sized for the largest supported workgroup (16×16 → 64×64 tiles).
const MAX_TILE: u32 = 64u;

// a_tile[kk * MAX_TILE + row], b_tile[kk * MAX_TILE + col]
var<workgroup> a_tile: array<f32, 1024>;
var<workgroup> b_tile: array<f32, 1024>;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn matmul(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) lindex: u32,
) {
    let tile_m = WG_Y * BLOCK;
    let tile_n = WG_X * BLOCK;
    let threads = WG_X * WG_Y;
    let row0 = wg.y * tile_m;
    let col0 = wg.x * tile_n;
    let interior_mn = row0 + tile_m <= params.m && col0 + tile_n <= params.n;

    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }

    for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
        let interior = interior_mn && k0 + TILE_K <= params.k;
        for (var e = lindex; e < tile_m * TILE_K; e += threads) {
            let r = e / TILE_K;
            let kk = e % TILE_K;
            var v = 0.0;
            if interior || (row0 + r < params.m && k0 + kk < params.k) {
                v = load_a(row0 + r, k0 + kk);
            }
            a_tile[kk * MAX_TILE + r] = v;
        }
        for (var e = lindex; e < tile_n * TILE_K; e += threads) {
            let kk = e / tile_n;
            let col = e % tile_n;
            var v = 0.0;
            if interior || (col0 + col < params.n && k0 + kk < params.k) {
                v = load_b(k0 + kk, col0 + col);
            }
            b_tile[kk * MAX_TILE + col] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            var a_frag: array<f32, 4>;
            var b_frag: array<f32, 4>;
            for (var i = 0u; i < BLOCK; i++) {
                a_frag[i] = a_tile[kk * MAX_TILE + lid.y * BLOCK + i];
                b_frag[i] = b_tile[kk * MAX_TILE + lid.x * BLOCK + i];
            }
            for (var i = 0u; i < BLOCK; i++) {
                for (var j = 0u; j < BLOCK; j++) {
                    acc[i * BLOCK + j] = fma(a_frag[i], b_frag[j], acc[i * BLOCK + j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < BLOCK; i++) {
        let row = row0 + lid.y * BLOCK + i;
        for (var j = 0u; j < BLOCK; j++) {
            let col = col0 + lid.x * BLOCK + j;
            if row < params.m && col < params.n {
                c[params.c_offset + row * params.n + col] = apply_epilogue(row, col, acc[i * BLOCK + j]);
            }
        }
    }
}
