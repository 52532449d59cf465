// Layout-specialised matmul for GPUs: C[M,N] = A[M,K] · B[K,N], with fused epilogue, in the
// form published WebGPU matmuls use. Which operand dimension is contiguous is fixed per
// pipeline (override LAYOUT), so every global load is a vec4 along it:
//   NN  dY·W   A(m,k) row-major (vec4 along k), B(k,n) row-major (vec4 along n)
//   NT  X·Wᵀ   A(m,k) row-major (vec4 along k), B(k,n) = W[n,k]  (vec4 along k)
//   TN  dYᵀ·X  A(m,k) = dY[k,m] (vec4 along m), B(k,n) row-major (vec4 along n)
// A and B are bound as vec4 arrays, so offsets, strides and the contiguous extent are
// multiples of 4 (`LayoutTile::supports` in src/ops/matmul/layout.rs).
//
// The interface below is tiled.wgsl's with a and b bound as vec4 arrays and without its
// scalar loaders; a unit test in layout.rs keeps the two in step.

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
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> aux: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

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

// ---- end of the matmul interface ----

// 0: NN, 1: NT, 2: TN (see the top). Constant-folded when the pipeline is created.
override LAYOUT: u32 = 1u;
// Outputs per invocation, BLOCK_M rows × BLOCK_N columns, each 4 or 8, not both 4 (at most
// 128 invocations, so one slice takes at most 2 vec4 loads per operand and invocation). They
// are 4×4 sub-blocks TILE / (BLOCK / 4) apart, so that neighbouring invocations read
// neighbouring vec4s of workgroup memory and write neighbouring columns of C.
override BLOCK_M: u32 = 8u;
override BLOCK_N: u32 = 8u;

const TILE: u32 = 64u;
// K per slice: two stages of A and B, padded, take 8.5 KiB of the 16 KiB WebGPU allows.
const TILE_K: u32 = 8u;
const TILE4: u32 = TILE / 4u;
// vec4s per k-row of a stage: one vec4 of padding, so the scalar stores that transpose a
// K-contiguous operand into k-rows hit 32 distinct banks (row r, k-chunk q -> bank 16q + r).
const PITCH: u32 = TILE4 + 1u;
const STAGE: u32 = TILE_K * PITCH;
// vec4 loads of one operand per slice; vec4s along K per tile row.
const SLICE4: u32 = TILE * TILE_K / 4u;
const K4: u32 = TILE_K / 4u;

// Two stages each (slice s computes from stage s % 2 while slice s + 1 is stored into the
// other), k-major: stage[base + kk * PITCH + m / 4][m % 4] = A(row0 + m, k0 + kk).
var<workgroup> a_stage: array<vec4<f32>, 2u * STAGE>;
var<workgroup> b_stage: array<vec4<f32>, 2u * STAGE>;

// The e-th vec4 of A's slice at k0 (zero outside M × K): along m for TN, else along k.
fn fetch_a(e: u32, row0: u32, k0: u32) -> vec4<f32> {
    if LAYOUT == 2u {
        let row = row0 + 4u * (e % TILE4);
        let k = k0 + e / TILE4;
        if row < params.m && k < params.k {
            return a[(params.a_offset + row + k * params.a_col_stride) / 4u];
        }
    } else {
        let row = row0 + e / K4;
        let k = k0 + 4u * (e % K4);
        if row < params.m && k < params.k {
            return a[(params.a_offset + row * params.a_row_stride + k) / 4u];
        }
    }
    return vec4<f32>(0.0);
}

// The e-th vec4 of B's slice at k0 (zero outside K × N): along k for NT, else along n.
fn fetch_b(e: u32, col0: u32, k0: u32) -> vec4<f32> {
    if LAYOUT == 1u {
        let col = col0 + e / K4;
        let k = k0 + 4u * (e % K4);
        if col < params.n && k < params.k {
            return b[(params.b_offset + col * params.b_col_stride + k) / 4u];
        }
    } else {
        let col = col0 + 4u * (e % TILE4);
        let k = k0 + e / TILE4;
        if col < params.n && k < params.k {
            return b[(params.b_offset + k * params.b_row_stride + col) / 4u];
        }
    }
    return vec4<f32>(0.0);
}

// Stores fetch_a's e-th vec4 into the stage at `base`: as is when it runs along m, else
// transposed into 4 k-rows.
fn stash_a(base: u32, e: u32, v: vec4<f32>) {
    if LAYOUT == 2u {
        a_stage[base + (e / TILE4) * PITCH + e % TILE4] = v;
    } else {
        let row = e / K4;
        let slot = base + 4u * (e % K4) * PITCH + row / 4u;
        let lane = row % 4u;
        a_stage[slot][lane] = v.x;
        a_stage[slot + PITCH][lane] = v.y;
        a_stage[slot + 2u * PITCH][lane] = v.z;
        a_stage[slot + 3u * PITCH][lane] = v.w;
    }
}

// Stores fetch_b's e-th vec4 into the stage at `base`, transposed for NT.
fn stash_b(base: u32, e: u32, v: vec4<f32>) {
    if LAYOUT == 1u {
        let col = e / K4;
        let slot = base + 4u * (e % K4) * PITCH + col / 4u;
        let lane = col % 4u;
        b_stage[slot][lane] = v.x;
        b_stage[slot + PITCH][lane] = v.y;
        b_stage[slot + 2u * PITCH][lane] = v.z;
        b_stage[slot + 3u * PITCH][lane] = v.w;
    } else {
        b_stage[base + (e / TILE4) * PITCH + e % TILE4] = v;
    }
}

@compute @workgroup_size(TILE / BLOCK_N, TILE / BLOCK_M, 1)
fn matmul(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) lindex: u32,
) {
    let threads_x = TILE / BLOCK_N;
    let threads_y = TILE / BLOCK_M;
    let threads = threads_x * threads_y;
    let loads = SLICE4 / threads;
    let blocks_m = BLOCK_M / 4u;
    let blocks_n = BLOCK_N / 4u;
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let slices = (params.k + TILE_K - 1u) / TILE_K;

    // acc[(p * 4 + i) * blocks_n + q][j]: row (lid.y + p·threads_y)·4 + i,
    // column (lid.x + q·threads_x)·4 + j of the tile.
    var acc: array<vec4<f32>, 16>;
    var a_next: array<vec4<f32>, 2>;
    var b_next: array<vec4<f32>, 2>;

    for (var r = 0u; r < loads; r++) {
        let e = lindex + r * threads;
        stash_a(0u, e, fetch_a(e, row0, 0u));
        stash_b(0u, e, fetch_b(e, col0, 0u));
    }
    workgroupBarrier();

    for (var s = 0u; s < slices; s++) {
        let more = s + 1u < slices;
        // Issue the next slice's global loads first; their latency hides behind the FMAs.
        if more {
            let k0 = (s + 1u) * TILE_K;
            for (var r = 0u; r < loads; r++) {
                a_next[r] = fetch_a(lindex + r * threads, row0, k0);
                b_next[r] = fetch_b(lindex + r * threads, col0, k0);
            }
        }
        let base = (s % 2u) * STAGE;
        // k ascending, one fma per product: the order of the other matmul kernels.
        for (var kk = 0u; kk < TILE_K; kk++) {
            var a_frag: array<vec4<f32>, 2>;
            var b_frag: array<vec4<f32>, 2>;
            for (var p = 0u; p < blocks_m; p++) {
                a_frag[p] = a_stage[base + kk * PITCH + lid.y + p * threads_y];
            }
            for (var q = 0u; q < blocks_n; q++) {
                b_frag[q] = b_stage[base + kk * PITCH + lid.x + q * threads_x];
            }
            for (var p = 0u; p < blocks_m; p++) {
                for (var i = 0u; i < 4u; i++) {
                    let av = vec4<f32>(a_frag[p][i]);
                    for (var q = 0u; q < blocks_n; q++) {
                        let slot = (p * 4u + i) * blocks_n + q;
                        acc[slot] = fma(av, b_frag[q], acc[slot]);
                    }
                }
            }
        }
        // The other stage was last read in slice s − 1, which every invocation has left.
        if more {
            for (var r = 0u; r < loads; r++) {
                stash_a(STAGE - base, lindex + r * threads, a_next[r]);
                stash_b(STAGE - base, lindex + r * threads, b_next[r]);
            }
        }
        workgroupBarrier();
    }

    for (var p = 0u; p < blocks_m; p++) {
        for (var i = 0u; i < 4u; i++) {
            let row = row0 + (lid.y + p * threads_y) * 4u + i;
            if row < params.m {
                for (var q = 0u; q < blocks_n; q++) {
                    for (var j = 0u; j < 4u; j++) {
                        let col = col0 + (lid.x + q * threads_x) * 4u + j;
                        if col < params.n {
                            let v = acc[(p * 4u + i) * blocks_n + q][j];
                            c[params.c_offset + row * params.n + col] = apply_epilogue(row, col, v);
                        }
                    }
                }
            }
        }
    }
}
