//! Choosing matmul variants by measurement: every candidate of a product gives the same bits
//! (so the choice changes speed only), the choice is cached on disk per adapter and reused by
//! the next context, `retune` measures again, and a damaged cache file is rebuilt.

mod common;

use std::path::PathBuf;

use distill_wgpu::gpu::MatmulTuning;
use distill_wgpu::ops::matmul::tune::{adapter_key, cache_path, product_key, MIN_MEASURED_FLOPS};
use distill_wgpu::ops::matmul::{self, candidates, MatmulSpec};
use distill_wgpu::{ContextOptions, GpuContext, SplitMix64};

/// The three products of a layer at a shape off every block size, and a 1024-wide forward.
fn products() -> Vec<MatmulSpec> {
    vec![
        MatmulSpec::forward(37, 52, 44, 4, 4 + 52 * 44, true),
        MatmulSpec::input_grad(37, 52, 44, 8, false),
        MatmulSpec::weight_grad(37, 52, 44, 0),
        MatmulSpec::forward(9, 1024, 12, 0, 1024 * 12, false),
    ]
}

#[test]
fn every_candidate_of_a_product_gives_the_same_bits() {
    with_gpu!(ctx => {
        let mut rng = SplitMix64::new(7);
        for spec in products() {
            let a = rng.uniform_vec(spec.a_len(), -1.0, 1.0);
            let b = rng.uniform_vec(spec.b_len(), -1.0, 1.0);
            let aux = rng.uniform_vec(spec.aux_len(), -1.0, 1.0);
            let options = candidates(&matmul::adapter_shape(ctx), &spec);
            assert!(options.len() >= 2, "{}: {} candidates", product_key(&spec), options.len());
            let first = matmul::matmul(ctx, options[0], &spec, &a, &b, &aux).unwrap();
            for &variant in &options[1..] {
                let got = matmul::matmul(ctx, variant, &spec, &a, &b, &aux).unwrap();
                let differ = got
                    .iter()
                    .zip(&first)
                    .position(|(x, y)| x.to_bits() != y.to_bits());
                assert!(
                    differ.is_none(),
                    "{}: {} and {} differ at element {:?}",
                    product_key(&spec),
                    options[0].name(),
                    variant.name(),
                    differ
                );
            }
        }
    });
}

/// Products big enough to be measured (at least `MIN_MEASURED_FLOPS`).
fn measured_products() -> Vec<MatmulSpec> {
    let specs = vec![
        MatmulSpec::forward(64, 128, 256, 4, 4 + 256 * 128, true),
        MatmulSpec::input_grad(64, 128, 256, 8, false),
    ];
    assert!(specs.iter().all(|s| s.flops() >= MIN_MEASURED_FLOPS));
    specs
}

fn measuring(dir: &std::path::Path, retune: bool) -> Option<GpuContext> {
    common::open(ContextOptions {
        matmul_tuning: MatmulTuning::Measure {
            cache_dir: Some(dir.to_path_buf()),
            retune,
        },
        ..ContextOptions::default()
    })
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distill-tuning-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_measured_choice_is_cached_reused_and_retuned() {
    let dir = fresh_dir("cache");
    let Some(first) = measuring(&dir, false) else {
        return;
    };
    let spec = measured_products()[0];
    let chosen = matmul::choose(&first, &spec);
    let options = candidates(&matmul::adapter_shape(&first), &spec);
    assert!(
        options.contains(&chosen),
        "{} is not a candidate",
        chosen.name()
    );
    let key = product_key(&spec);
    let choices = first.matmul_choices();
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0].0, key);
    assert!(choices[0].1.measured_here);

    // The file holds it under this adapter's key.
    let text = std::fs::read_to_string(cache_path(&dir)).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        file["adapters"][adapter_key(&first)][&key].as_str(),
        Some(chosen.name().as_str()),
        "{text}"
    );

    // A second context reads it instead of measuring.
    let second = measuring(&dir, false).unwrap();
    assert_eq!(matmul::choose(&second, &spec), chosen);
    let reused = &second.matmul_choices()[0].1;
    assert!(!reused.measured_here, "measured again: {reused:?}");

    // `retune` measures again and keeps the file well formed.
    let third = measuring(&dir, true).unwrap();
    let again = matmul::choose(&third, &spec);
    assert!(options.contains(&again));
    assert!(third.matmul_choices()[0].1.measured_here);
    let text = std::fs::read_to_string(cache_path(&dir)).unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        file["adapters"][adapter_key(&third)][&key].as_str(),
        Some(again.name().as_str())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_or_foreign_cache_file_is_measured_over() {
    let dir = fresh_dir("damaged");
    std::fs::create_dir_all(&dir).unwrap();
    let spec = measured_products()[1];
    for text in [
        "{ not json".to_string(),
        r#"{"format":"someone-else/1","adapters":{}}"#.to_string(),
    ] {
        std::fs::write(cache_path(&dir), &text).unwrap();
        let Some(ctx) = measuring(&dir, false) else {
            return;
        };
        let chosen = matmul::choose(&ctx, &spec);
        assert!(ctx.matmul_choices()[0].1.measured_here);
        let written = std::fs::read_to_string(cache_path(&dir)).unwrap();
        let file: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(
            file["adapters"][adapter_key(&ctx)][product_key(&spec)].as_str(),
            Some(chosen.name().as_str())
        );
    }
    // A choice naming a variant that does not exist is measured over too.
    let ctx = measuring(&dir, false).unwrap();
    let key = product_key(&spec);
    let text = std::fs::read_to_string(cache_path(&dir))
        .unwrap()
        .replace("shuffle", "no-such-variant")
        .replace("unrolled", "no-such-variant")
        .replace("tiled", "no-such-variant");
    std::fs::write(cache_path(&dir), text).unwrap();
    let chosen = matmul::choose(&ctx, &spec);
    assert!(candidates(&matmul::adapter_shape(&ctx), &spec).contains(&chosen));
    assert!(ctx
        .matmul_choices()
        .iter()
        .any(|(k, c)| k == &key && c.measured_here));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_small_product_takes_the_cost_model_without_measuring() {
    let dir = fresh_dir("small");
    let Some(ctx) = measuring(&dir, false) else {
        return;
    };
    let spec = products()[0];
    assert!(spec.flops() < MIN_MEASURED_FLOPS);
    assert_eq!(
        matmul::choose(&ctx, &spec),
        matmul::choose_variant(&matmul::adapter_shape(&ctx), &spec)
    );
    assert!(ctx.matmul_choices().is_empty());
    assert!(!cache_path(&dir).exists());
}
