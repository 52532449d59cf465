//! `distill diagnose --teacher T [--student S] [--baseline B]`: why distillation helped or
//! hurt, from the models' logits on the data (see `distill_wgpu::diagnose`), and whether the
//! student looks where the teacher looks (input-gradient saliency maps on the test set).

use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use distill_wgpu::diagnose::{
    diagnose, saliency_agreement, telling_samples, DiagnoseInput, Diagnosis, ModelLogits,
    Thresholds,
};
use distill_wgpu::eval::calibrate::calibrator;
use distill_wgpu::eval::saliency::{dataset_saliency, SaliencyTarget};
use distill_wgpu::eval::{check_fits, logits};
use distill_wgpu::model::io;
use distill_wgpu::ops::calibration::ECE_BINS;
use distill_wgpu::{files, Dataset, DeviceDataset, GpuContext, Mlp, Result};

use crate::analysis_pages::{write_diagnosis_page, SaliencyExamples};
use crate::cli::DiagnoseArgs;
use crate::jobs::load_data;
use crate::open_context;
use crate::output::{check_inputs_not_outputs, prepare, Resume};
use crate::report::{to_json, today, AdapterReport};

/// `diagnosis.json`.
#[derive(Serialize)]
struct DiagnosisReport<'a> {
    schema: &'static str,
    date: String,
    crate_version: &'static str,
    adapter: AdapterReport,
    teacher: &'a Path,
    student: Option<&'a Path>,
    baseline: Option<&'a Path>,
    thresholds: Thresholds,
    diagnosis: &'a Diagnosis,
}

type Logits = (Vec<f32>, Option<Vec<f32>>);

/// Rows per saliency pass.
const SALIENCY_CHUNK: usize = 256;
/// Each map is taken at the sample's label, so every model answers the same question.
const SALIENCY_TARGET: SaliencyTarget = SaliencyTarget::Label;

/// The borrowed view of a model's logits.
fn view<'a>(name: &'a str, l: &'a Logits) -> ModelLogits<'a> {
    ModelLogits {
        name,
        test: &l.0,
        train: l.1.as_deref(),
    }
}

/// A model's logits on the test set, and on the training set when `train` is given.
fn model_logits(
    ctx: &GpuContext,
    path: &Path,
    test: &DeviceDataset,
    train: Option<&DeviceDataset>,
) -> Result<Logits> {
    let (spec, params) = io::load(path)?;
    let model = Mlp::from_parameters(ctx, &spec, &params)?;
    check_fits(&path.display().to_string(), &model, test)?;
    let on_test = logits(ctx, &model, test, 512)?;
    let on_train = train.map(|t| logits(ctx, &model, t, 512)).transpose()?;
    Ok((on_test, on_train))
}

/// Diagnoses the models and writes diagnosis.json and report.html.
pub fn run(args: &DiagnoseArgs) -> Result<ExitCode> {
    let data = load_data(&args.data)?;
    let out = prepare(&args.output, Resume::Unsupported)?;
    let report_path = out.join("diagnosis.json");
    let mut inputs: Vec<&Path> = vec![&args.teacher];
    inputs.extend(args.student.as_deref());
    inputs.extend(args.baseline.as_deref());
    check_inputs_not_outputs(&inputs, &[report_path.clone(), out.join("report.html")])?;
    let ctx = open_context(&args.gpu, args.json)?;
    let train = DeviceDataset::new(&ctx, &data.train, data.classes)?;
    let test = DeviceDataset::new(&ctx, &data.test, data.classes)?;
    let teacher = model_logits(&ctx, &args.teacher, &test, Some(&train))?;
    let student = args
        .student
        .as_deref()
        .map(|p| model_logits(&ctx, p, &test, Some(&train)))
        .transpose()?;
    let baseline = args
        .baseline
        .as_deref()
        .map(|p| model_logits(&ctx, p, &test, None))
        .transpose()?;
    let calibration = calibrator(&ctx, &teacher.0, test.labels(), data.classes)?
        .calibration(&ctx, 1.0, ECE_BINS)?;
    let input = DiagnoseInput {
        classes: data.classes,
        test_labels: &data.test.labels,
        train_labels: &data.train.labels,
        teacher: view("teacher", &teacher),
        teacher_calibration: &calibration,
        student: student.as_ref().map(|l| view("student", l)),
        baseline: baseline.as_ref().map(|l| view("baseline", l)),
    };
    let thresholds = Thresholds::default();
    let mut diagnosis = diagnose(&input, &thresholds)?;
    let examples = add_saliency(&ctx, args, &data.test, &mut diagnosis)?;
    let report = DiagnosisReport {
        schema: "distill-wgpu-diagnosis/1",
        date: today(),
        crate_version: env!("CARGO_PKG_VERSION"),
        adapter: AdapterReport::new(&ctx),
        teacher: &args.teacher,
        student: args.student.as_deref(),
        baseline: args.baseline.as_deref(),
        thresholds,
        diagnosis: &diagnosis,
    };
    let json = to_json(&report);
    files::write_atomic(&report_path, json.as_bytes())?;
    let page = write_diagnosis_page(&out, &ctx, &diagnosis, examples.as_ref())?;
    if args.json {
        println!("{json}");
    } else {
        print_diagnosis(&diagnosis, data.classes);
        println!(
            "\nfull diagnosis (confusion matrices included) in {} and {}",
            report_path.display(),
            page.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A model's saliency maps on the test set.
fn model_saliency(ctx: &GpuContext, path: &Path, test: &Dataset) -> Result<Vec<f32>> {
    let (spec, params) = io::load(path)?;
    let model = Mlp::from_parameters(ctx, &spec, &params)?;
    dataset_saliency(ctx, &model, test, SALIENCY_TARGET, SALIENCY_CHUNK)
}

/// Adds the student's and baseline's saliency agreement with the teacher to `diagnosis`, and
/// returns the telling samples' maps for the page (image data with a student only).
fn add_saliency(
    ctx: &GpuContext,
    args: &DiagnoseArgs,
    test: &Dataset,
    diagnosis: &mut Diagnosis,
) -> Result<Option<SaliencyExamples>> {
    let others: Vec<(&str, &Path)> = [("student", &args.student), ("baseline", &args.baseline)]
        .into_iter()
        .filter_map(|(name, path)| path.as_deref().map(|p| (name, p)))
        .collect();
    if others.is_empty() {
        return Ok(None);
    }
    let features = test.features();
    let teacher = model_saliency(ctx, &args.teacher, test)?;
    let mut maps = vec![("teacher".to_string(), teacher)];
    let mut student_rho = None;
    for (name, path) in others {
        let other = model_saliency(ctx, path, test)?;
        let (agreement, per_sample) =
            saliency_agreement(name, SALIENCY_TARGET, &maps[0].1, &other, features)?;
        diagnosis.saliency.push(agreement);
        if name == "student" {
            student_rho = Some(per_sample);
        }
        maps.push((name.to_string(), other));
    }
    let (Some(rho), false) = (student_rho, test.is_tabular()) else {
        return Ok(None);
    };
    let mut columns = vec!["input".to_string()];
    columns.extend(maps.iter().map(|(name, _)| format!("{name} saliency")));
    let rows = telling_samples(&rho)
        .into_iter()
        .map(|(what, i)| {
            let title = format!("#{i} ({}), {what}", test.labels[i]);
            let span = i * features..(i + 1) * features;
            let mut panels = vec![test.inputs_f32(i..i + 1)];
            panels.extend(maps.iter().map(|(_, m)| m[span.clone()].to_vec()));
            (title, rho[i].unwrap_or(f64::NAN), panels)
        })
        .collect();
    Ok(Some(SaliencyExamples {
        columns,
        rows,
        height: test.height,
        width: test.width,
    }))
}

fn print_diagnosis(d: &Diagnosis, classes: usize) {
    let c = &d.teacher_calibration;
    println!(
        "teacher: {} test errors ({:.2} %), NLL {:.4}, ECE {:.4}, Brier {:.4}",
        d.teacher.errors,
        100.0 * d.teacher.accuracy,
        c.nll,
        c.ece,
        c.brier
    );
    let models: Vec<_> = [Some(&d.teacher), d.student.as_ref(), d.baseline.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    for m in &models[1..] {
        println!(
            "{}: {} test errors ({:.2} %)",
            m.name,
            m.errors,
            100.0 * m.accuracy
        );
    }
    print!("\nper-class test accuracy, %\nclass");
    for m in &models {
        print!(" {:>9}", m.name);
    }
    println!();
    for class in 0..classes {
        print!("{class:>5}");
        for m in &models {
            print!(" {:>9.1}", 100.0 * m.class_accuracy[class]);
        }
        println!();
    }
    if let Some(dis) = &d.disagreements {
        println!(
            "\nteacher–label disagreements on the training set: {} ({:.2} %)",
            dis.count,
            100.0 * dis.fraction
        );
        for x in &dis.most_confident {
            println!(
                "  sample {:>6}: label {}, teacher says {} (p = {:.3})",
                x.index, x.label, x.teacher_class, x.probability
            );
        }
    }
    if let Some(f) = &d.fidelity {
        print!(
            "\nstudent fidelity: top-1 agreement with the teacher {:.2} % on test (mean KL {:.4})",
            100.0 * f.test_agreement,
            f.test_kl
        );
        if let (Some(a), Some(kl)) = (f.train_agreement, f.train_kl) {
            print!(", {:.2} % on training (mean KL {kl:.4})", 100.0 * a);
        }
        println!();
    }
    for a in &d.saliency {
        let [min, q1, median, q3, max] = a.quantiles;
        println!(
            "\nsaliency: {} vs teacher, Spearman ρ of |∂ z_label / ∂ x| over {} test samples: \
             mean {:.3} ± {:.3}; min {min:.3}, quartiles {q1:.3} / {median:.3} / {q3:.3}, max \
             {max:.3}{}",
            a.name,
            a.samples,
            a.mean,
            a.std,
            if a.undefined > 0 {
                format!(" ({} with a constant map left out)", a.undefined)
            } else {
                String::new()
            }
        );
    }
    if d.warnings.is_empty() {
        println!("\nno warnings");
    } else {
        println!("\nwarnings:");
        for w in &d.warnings {
            println!("  - {}", w.message);
        }
    }
}
