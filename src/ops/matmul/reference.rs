//! The matmul reference: the strided product and its epilogue, plainly, in f64.

use crate::ops::matmul::spec::{Epilogue, MatmulSpec};

/// The strided product of a [`MatmulSpec`]: returns the `m × n` result (without `c_offset`).
pub fn matmul(spec: &MatmulSpec, a: &[f64], b: &[f64], aux: &[f64]) -> Vec<f64> {
    let mut c = vec![0.0; spec.m * spec.n];
    for i in 0..spec.m {
        for j in 0..spec.n {
            let mut acc = 0.0;
            for k in 0..spec.k {
                let av = a[spec.a.offset + i * spec.a.row_stride + k * spec.a.col_stride];
                let bv = b[spec.b.offset + k * spec.b.row_stride + j * spec.b.col_stride];
                acc += av * bv;
            }
            c[i * spec.n + j] = match spec.epilogue {
                Epilogue::Store => acc,
                Epilogue::Bias => acc + aux[spec.aux_offset + j],
                Epilogue::BiasRelu => (acc + aux[spec.aux_offset + j]).max(0.0),
                Epilogue::ReluMask => {
                    if aux[spec.aux_offset + i * spec.n + j] > 0.0 {
                        acc * spec.mask_scale as f64
                    } else {
                        0.0
                    }
                }
            };
        }
    }
    c
}
