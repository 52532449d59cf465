//! Distil a small student from a teacher's logits on a toy problem, on whatever adapter wgpu
//! finds. Run: `cargo run --release --example quickstart`.

use distill_wgpu::{
    ContextOptions, GpuContext, KdConfig, Mlp, MlpSpec, Optimizer, StepBatch, TeacherSource,
    Trainer, TrainerConfig,
};

fn main() -> distill_wgpu::Result<()> {
    let ctx = GpuContext::new(&ContextOptions::default())?;
    println!("adapter: {}", ctx.describe());

    // 4 inputs → 16 hidden → 3 classes; a batch of 8 samples.
    let spec = MlpSpec::relu(&[4, 16, 3])?;
    let student = Mlp::new(&ctx, &spec, 42)?;
    let kd = KdConfig {
        temperature: 4.0,
        alpha: 0.9,
    };
    let mut trainer = Trainer::new(
        &ctx,
        student,
        &TrainerConfig::new(8, Optimizer::adam(1e-2)).kd(kd),
    )?;

    let inputs: Vec<f32> = (0..32).map(|i| (i % 7) as f32 / 7.0).collect();
    let labels: Vec<u32> = (0..8).map(|i| i % 3).collect();
    let teacher_logits: Vec<f32> = (0..24)
        .map(|i| {
            if i % 3 == labels[i / 3] as usize {
                3.0
            } else {
                0.5
            }
        })
        .collect();
    let batch = StepBatch {
        inputs: &inputs,
        labels: &labels,
        teacher: TeacherSource::Logits(&teacher_logits),
    };
    for step in 0..100 {
        // One encoder, one submit; no read-back unless asked.
        trainer.step(&ctx, &batch)?;
        if step % 25 == 0 {
            let loss = trainer.read_loss(&ctx)?;
            println!(
                "step {step:3}: loss {:.4} (ce {:.4}, kl {:.4})",
                loss.total, loss.ce, loss.kl
            );
        }
    }
    let loss = trainer.read_loss(&ctx)?;
    println!("final loss {:.4}", loss.total);
    Ok(())
}
