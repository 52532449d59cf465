//! The matmul problem: `C[M,N] = epilogue(A[M,K]·B[K,N])` over strided operands, and the
//! uniform block every matmul kernel reads.

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

/// Uniform block of every matmul kernel (`MatmulParams` in `shaders/matmul/tiled.wgsl`, shared
/// by the generated kernels).
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
