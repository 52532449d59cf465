use distill_wgpu::*;
fn main() -> Result<()> {
    let ctx = GpuContext::new(&ContextOptions::default())?;
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let v = MatmulVariant::Unrolled {
        rows: args[0] as u32,
        cols: args[1] as u32,
    };
    let t = std::time::Instant::now();
    let spec = MatmulSpec {
        m: 1,
        n: 1,
        k: 1,
        a: Strided::row_major(0, 1),
        b: Strided::row_major(0, 1),
        c_offset: 0,
        aux_offset: 0,
        epilogue: Epilogue::Store,
    };
    kernels::matmul(&ctx, v, &spec, &[1.0], &[2.0], &[0.0])?;
    println!("{} compile+run {:?}", v.name(), t.elapsed());
    Ok(())
}
