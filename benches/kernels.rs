//! Criterion benches of each kernel and of the whole KD step on the default adapter. Device
//! work is timed honestly: each sample records the kernel `iters` times into one submit and
//! waits for the queue (`iter_custom`). Throughput is reported in elements; the GFLOP/s and
//! GB/s the README quotes come from `distill bench`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use distill_wgpu::data::{Dataset, DeviceDataset};
use distill_wgpu::kernels::{self, KdBatch, PreparedKernel};
use distill_wgpu::validate::random_vec;
use distill_wgpu::{
    ContextOptions, GpuContext, KdConfig, MatmulSpec, Mlp, MlpSpec, Optimizer, SplitMix64, Trainer,
};

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
    for (name, spec) in [
        (
            "forward 128x800x784",
            MatmulSpec::forward(128, 784, 800, 0, 800 * 784, true),
        ),
        (
            "input_grad 128x784x800",
            MatmulSpec::input_grad(128, 784, 800, 0, true),
        ),
        (
            "weight_grad 800x784x128",
            MatmulSpec::weight_grad(128, 784, 800, 0),
        ),
    ] {
        let variant = ctx.choose_matmul(&spec);
        let a = random_vec(&mut rng, spec.a_len(), -1.0, 1.0);
        let b = random_vec(&mut rng, spec.b_len(), -1.0, 1.0);
        let aux = random_vec(&mut rng, spec.aux_len(), 0.0, 1.0);
        let kernel = kernels::prepare_matmul(&ctx, variant, &spec, &a, &b, &aux).unwrap();
        // Elements = multiply-adds, so elements/s ÷ 1e9 × 2 is GFLOP/s.
        group.throughput(Throughput::Elements((spec.m * spec.n * spec.k) as u64));
        group.bench_function(format!("{name} {}", variant.name()), |bench| {
            bench.iter_custom(|iters| time(&ctx, &kernel, iters))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("rows");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for &(rows, cols) in &[(128usize, 10usize), (1024, 1000)] {
        let z = random_vec(&mut rng, rows * cols, -5.0, 5.0);
        let t = random_vec(&mut rng, rows * cols, -5.0, 5.0);
        let labels: Vec<u32> = (0..rows).map(|r| (r % cols) as u32).collect();
        let kd = kernels::prepare_kd_loss(
            &ctx,
            &KdBatch {
                student: &z,
                teacher: &t,
                labels: &labels,
                rows,
                cols,
            },
            KdConfig {
                temperature: 4.0,
                alpha: 0.9,
            },
        )
        .unwrap();
        let softmax = kernels::prepare_softmax(&ctx, &z, rows, cols, 4.0).unwrap();
        group.throughput(Throughput::Bytes((3 * rows * cols * 4) as u64));
        group.bench_function(format!("kd_loss {rows}x{cols}"), |b| {
            b.iter_custom(|i| time(&ctx, &kd, i))
        });
        group.bench_function(format!("softmax {rows}x{cols}"), |b| {
            b.iter_custom(|i| time(&ctx, &softmax, i))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("kd_step");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    let samples = 1024;
    let data = Dataset::random(&mut rng, samples, 28, 28, 10);
    let mut dataset = DeviceDataset::new(&ctx, &data, 10).unwrap();
    let teacher = Mlp::new(&ctx, &MlpSpec::relu(&[784, 1200, 1200, 10]).unwrap(), 2).unwrap();
    dataset.cache_teacher_logits(&ctx, &teacher, 256).unwrap();
    let student = Mlp::new(&ctx, &MlpSpec::relu(&[784, 800, 800, 10]).unwrap(), 1).unwrap();
    let batch = 128;
    let mut trainer = Trainer::new(
        &ctx,
        student,
        batch,
        Optimizer::adam(1e-3),
        KdConfig {
            temperature: 4.0,
            alpha: 0.9,
        },
    )
    .unwrap();
    trainer.attach_dataset(&ctx, &dataset, 0, 0).unwrap();
    group.throughput(Throughput::Elements(batch as u64));
    group.bench_function("784-800-800-10 batch 128 cached teacher", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters as usize {
                trainer
                    .step_on_dataset(&ctx, &dataset, i % (samples / batch), None)
                    .unwrap();
            }
            ctx.wait().unwrap();
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group!(kernel_benches, benches);
criterion_main!(kernel_benches);
