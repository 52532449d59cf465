use distill_wgpu::*;
fn main() -> Result<()> {
    let ctx = GpuContext::new(&ContextOptions::default())?;
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let v = if args[0] == 0 {
        MatmulVariant::Tiled {
            wg_x: args[1] as u32,
            wg_y: args[1] as u32,
        }
    } else {
        MatmulVariant::Unrolled {
            rows: args[0] as u32,
            cols: args[1] as u32,
        }
    };
    let (m, n, k) = (args[2], args[3], args[4]);
    let mut rng = SplitMix64::new(1);
    let specs = [
        (
            "A·B",
            MatmulSpec {
                m,
                n,
                k,
                a: Strided::row_major(0, k),
                b: Strided::row_major(0, n),
                c_offset: 0,
                aux_offset: 0,
                epilogue: Epilogue::Store,
            },
        ),
        ("X·Wᵀ", MatmulSpec::forward(m, k, n, 0, n * k, true)),
        ("dYᵀ·X", MatmulSpec::weight_grad(k, n, m, 0)),
    ];
    for (name, spec) in specs {
        let a = validate::random_vec(&mut rng, spec.a_len(), -1.0, 1.0);
        let b = validate::random_vec(&mut rng, spec.b_len(), -1.0, 1.0);
        let aux = validate::random_vec(&mut rng, spec.aux_len(), -1.0, 1.0);
        let p = kernels::prepare_matmul(&ctx, v, &spec, &a, &b, &aux)?;
        p.run(&ctx, 1)?;
        let reps = 3;
        let t = std::time::Instant::now();
        p.run(&ctx, reps)?;
        let s = t.elapsed().as_secs_f64() / reps as f64;
        println!(
            "{} {name} {m}x{n}x{k}: {:.2} ms {:.2} GFLOP/s",
            v.name(),
            s * 1e3,
            spec.flops() / s / 1e9
        );
    }
    Ok(())
}
