//! Criterion benches of each kernel and of the whole KD step on the default adapter. Device
//! work is timed honestly: each sample records the kernel `iters` times into one submit and
//! waits for the queue (`iter_custom`). Throughput is reported in elements; the GFLOP/s and
//! GB/s the README quotes come from `distill bench`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use distill_wgpu::bench as workloads;
use distill_wgpu::gpu::PreparedKernel;
use distill_wgpu::{ContextOptions, GpuContext, SplitMix64};

fn context() -> GpuContext {
    GpuContext::new(&ContextOptions::default()).unwrap_or_else(|e| {
        panic!("benches need a GPU adapter ({e}); without a GPU install lavapipe: apt-get install -y mesa-vulkan-drivers libvulkan1")
    })
}

fn time(ctx: &GpuContext, kernel: &PreparedKernel, iters: u64) -> Duration {
    let start = Instant::now();
    kernel.run(ctx, iters as usize).expect("kernel run failed");
    start.elapsed()
}

fn benches(c: &mut Criterion) {
    let ctx = context();
    eprintln!("benches run on: {}", ctx.describe());
    let mut rng = SplitMix64::new(1);

    let mut group = c.benchmark_group("matmul");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    for (product, spec) in workloads::matmul_workloads(true) {
        // The chosen variant and, where it differs, the fallback family's, side by side.
        for (_, variant) in workloads::matmul_bench_variants(&ctx, &spec) {
            let kernel =
                workloads::prepare_matmul_workload(&ctx, &mut rng, &spec, variant).unwrap();
            // Elements = multiply-adds, so elements/s ÷ 1e9 × 2 is GFLOP/s.
            group.throughput(Throughput::Elements((spec.m * spec.n * spec.k) as u64));
            group.bench_function(
                format!(
                    "{product} {}x{}x{} {}",
                    spec.m,
                    spec.n,
                    spec.k,
                    variant.name()
                ),
                |bench| bench.iter_custom(|iters| time(&ctx, &kernel, iters)),
            );
        }
    }
    group.finish();

    let mut group = c.benchmark_group("rows");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for &(rows, cols) in workloads::ROW_SHAPES {
        for (name, kernel, bytes) in
            workloads::prepare_row_workloads(&ctx, &mut rng, rows, cols).unwrap()
        {
            group.throughput(Throughput::Bytes(bytes as u64));
            group.bench_function(format!("{name} {rows}x{cols}"), |b| {
                b.iter_custom(|i| time(&ctx, &kernel, i))
            });
        }
    }
    group.finish();

    let mut group = c.benchmark_group("stream");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for w in workloads::prepare_stream_workloads(&ctx, &mut rng).unwrap() {
        let shape: Vec<String> = w.shape.iter().map(usize::to_string).collect();
        group.throughput(Throughput::Bytes(w.bytes as u64));
        group.bench_function(format!("{} {}", w.name, shape.join("x")), |b| {
            b.iter_custom(|i| time(&ctx, &w.kernel, i))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("kd_step");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    let workload = workloads::KdStepWorkload::new(&ctx, &mut rng, 1024).unwrap();
    let batch = 128;
    let mut trainer = workload.trainer(&ctx, batch).unwrap();
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("784-800-800-10 batch 128 cached teacher", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            workload
                .run_steps(&ctx, &mut trainer, iters as usize, false)
                .unwrap();
            ctx.wait().unwrap();
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group!(kernel_benches, benches);
criterion_main!(kernel_benches);
