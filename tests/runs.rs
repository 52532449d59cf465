//! The CLI's promises about files and runs: a new numbered folder per run, nothing a user has
//! replaced without --force, an input never an output, checkpoints every epoch, --resume
//! (also after Ctrl-C) giving bit-identical weights, --init, and runs that go non-finite or
//! make no sense stopping with one error line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use distill_wgpu::model::io;
use distill_wgpu::SplitMix64;

/// The subcommands that take --quiet (those with progress output).
const QUIET: [&str; 6] = ["run", "train", "distill", "mutual", "sweep", "experiment"];

/// Runs `distill` in `dir`, quietly where the subcommand takes --quiet.
fn distill_in(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_distill"));
    command.current_dir(dir).args(args);
    if args.first().is_some_and(|c| QUIET.contains(c)) {
        command.arg("--quiet");
    }
    command.output().expect("failed to start distill")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn fails_with(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("error") && l.contains(needle)),
        "no error line with {needle:?}: {err}"
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distill-runs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend(d.to_be_bytes());
    }
    out.extend(data);
    out
}

/// A small learnable data set of 8×8 images in 3 classes (the class lights one band), in the
/// MNIST folder layout.
fn tiny_data(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut rng = SplitMix64::new(3);
    for (prefix, count) in [("train", 240u32), ("t10k", 60)] {
        let labels: Vec<u8> = (0..count).map(|_| rng.below(3) as u8).collect();
        let pixels: Vec<u8> = labels
            .iter()
            .flat_map(|&l| (0..64).map(move |i| if (i / 8) % 3 == l as usize { 200 } else { 20 }))
            .map(|p: u8| p.saturating_add(rng.below(40) as u8))
            .collect();
        std::fs::write(
            data.join(format!("{prefix}-images-idx3-ubyte")),
            idx(&[count, 8, 8], &pixels),
        )
        .unwrap();
        std::fs::write(
            data.join(format!("{prefix}-labels-idx1-ubyte")),
            idx(&[count], &labels),
        )
        .unwrap();
    }
    data
}

fn weights(path: &Path) -> Vec<f32> {
    io::load(path).unwrap().1
}

/// metrics.csv of a run folder as (job, epoch, test errors) rows, after checking its columns.
fn metrics(out: &Path) -> Vec<(String, usize, Option<usize>)> {
    let text = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, distill_wgpu::report::METRICS_COLUMNS);
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let errors = (!r[5].is_empty()).then(|| r[5].parse().unwrap());
            (r[0].to_string(), r[1].parse().unwrap(), errors)
        })
        .collect()
}

/// report.html of a run folder, checked to be one self-contained page with `figures` plots
/// and every model named in `models`.
fn page(out: &Path, figures: usize, models: &[&str]) -> String {
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<svg").count(), figures, "figures in {html}");
    assert!(!html.contains("no figure"), "a plot failed: {html}");
    assert!(!html.contains("<script") && !html.contains("src="));
    for m in models {
        assert!(
            html.contains(&format!("<td>{m}</td>")),
            "{m} missing from the table"
        );
    }
    html
}

#[test]
fn each_run_gets_a_new_folder_and_existing_results_are_kept() {
    with_gpu!(_ctx => {
        let dir = temp_dir("folders");
        let data = tiny_data(&dir);
        let train = ["train", "--data", data.to_str().unwrap(), "--hidden", "8", "--epochs", "1", "--batch-size", "32"];
        ok(&distill_in(&dir, &train));
        ok(&distill_in(&dir, &train));
        for run in ["runs/run-001", "runs/run-002"] {
            for file in ["model.safetensors", "report.json", "checkpoints/model.safetensors"] {
                assert!(dir.join(run).join(file).is_file(), "{run}/{file} missing");
            }
        }
        // An explicit --out that holds results is refused, and left as it was.
        let out = dir.join("runs/run-001");
        let before = std::fs::read(out.join("model.safetensors")).unwrap();
        let with_out = [&train[..], &["--out", out.to_str().unwrap(), "--seed", "9"]].concat();
        fails_with(&distill_in(&dir, &with_out), "already holds results");
        assert_eq!(std::fs::read(out.join("model.safetensors")).unwrap(), before);
        ok(&distill_in(&dir, &[&with_out[..], &["--force"]].concat()));
        assert_ne!(std::fs::read(out.join("model.safetensors")).unwrap(), before, "--force overwrote nothing");
        // --resume without --out, or into nothing, is refused.
        fails_with(&distill_in(&dir, &[&train[..], &["--resume"]].concat()), "--resume needs --out");
        let leftovers: Vec<_> = std::fs::read_dir(&out).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".partial")).collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    });
}

#[test]
fn an_input_is_never_an_output() {
    with_gpu!(_ctx => {
        let dir = temp_dir("inputs");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        let out = dir.join("out");
        let o = out.to_str().unwrap();
        ok(&distill_in(&dir, &["train", "--data", d, "--hidden", "16", "--epochs", "1", "--out", o]));
        let teacher = out.join("model.safetensors");
        ok(&distill_in(&dir, &["distill", "--teacher", teacher.to_str().unwrap(), "--data", d, "--hidden", "8", "--epochs", "1", "--out", o, "--force"]));
        let student = out.join("student-distilled.safetensors");
        let before = std::fs::read(&student).unwrap();
        let again = ["distill", "--teacher", student.to_str().unwrap(), "--data", d, "--hidden", "8", "--epochs", "1", "--out", o];
        fails_with(&distill_in(&dir, &again), "already holds results");
        fails_with(&distill_in(&dir, &[&again[..], &["--force"]].concat()), "is an input of this run");
        assert_eq!(std::fs::read(&student).unwrap(), before, "the teacher file changed");
    });
}

#[test]
fn resume_continues_to_bit_identical_weights() {
    with_gpu!(_ctx => {
        let dir = temp_dir("resume");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        let args = |out: &Path, epochs: &'static str| -> Vec<String> {
            ["train", "--data", d, "--hidden", "12", "--dropout", "0.2", "--jitter", "1", "--batch-size", "16", "--epochs", epochs, "--out", out.to_str().unwrap()].iter().map(|s| s.to_string()).collect()
        };
        let run = |a: Vec<String>, extra: &[&str]| distill_in(&dir, &a.iter().map(String::as_str).chain(extra.iter().copied()).collect::<Vec<_>>());
        let whole = dir.join("whole");
        ok(&run(args(&whole, "3"), &[]));
        let parts = dir.join("parts");
        ok(&run(args(&parts, "1"), &[]));
        ok(&run(args(&parts, "3"), &["--resume"]));
        assert_eq!(weights(&whole.join("model.safetensors")), weights(&parts.join("model.safetensors")));
        // The resumed run reports the test errors of every epoch, the same as in one go.
        let rows = metrics(&whole);
        assert_eq!(rows.iter().map(|r| r.1).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(rows.iter().all(|r| r.0 == "model" && r.2.is_some()), "{rows:?}");
        assert_eq!(metrics(&parts), rows);
        // Resuming a finished run changes nothing; other settings are refused.
        ok(&run(args(&parts, "3"), &["--resume"]));
        assert_eq!(weights(&whole.join("model.safetensors")), weights(&parts.join("model.safetensors")));
        fails_with(&run(args(&parts, "3"), &["--resume", "--lr", "0.01"]), "resume with the same settings");
        fails_with(&run(args(&parts, "3"), &["--resume", "--force"]), "pass one");
        // --init fine-tunes from saved weights, whose architecture --hidden must match.
        let tuned = dir.join("tuned");
        let init = whole.join("model.safetensors");
        ok(&distill_in(&dir, &["train", "--data", d, "--epochs", "1", "--init", init.to_str().unwrap(), "--out", tuned.to_str().unwrap()]));
        assert_eq!(io::load(&tuned.join("model.safetensors")).unwrap().0.sizes, vec![64, 12, 3]);
        fails_with(&distill_in(&dir, &["train", "--data", d, "--hidden", "5", "--init", init.to_str().unwrap(), "--out", dir.join("x").to_str().unwrap()]), "differs from --hidden");
    });
}

#[test]
fn ctrl_c_saves_a_checkpoint_that_resumes_exactly() {
    with_gpu!(_ctx => {
        let dir = temp_dir("sigint");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        let (whole, cut) = (dir.join("whole"), dir.join("cut"));
        let args = |out: &Path| vec!["train".to_string(), "--data".into(), d.into(), "--hidden".into(), "12".into(), "--batch-size".into(), "8".into(), "--epochs".into(), "60".into(), "--out".into(), out.to_str().unwrap().into()];
        let mut child = Command::new(env!("CARGO_BIN_EXE_distill")).current_dir(&dir).args(args(&cut)).arg("--quiet").spawn().unwrap();
        let checkpoint = cut.join("checkpoints/model.safetensors");
        let start = Instant::now();
        while !checkpoint.is_file() && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let signalled = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
        assert!(signalled.success());
        let status = child.wait().unwrap();
        if status.success() {
            eprintln!("the run finished before the interrupt arrived; nothing to resume");
        } else {
            assert_eq!(status.code(), Some(130), "an interrupted run exits with 130");
            assert!(!cut.join("model.safetensors").exists(), "an interrupted run saved final weights");
            ok(&distill_in(&dir, &[&args(&cut).iter().map(String::as_str).collect::<Vec<_>>()[..], &["--resume"]].concat()));
        }
        ok(&distill_in(&dir, &args(&whole).iter().map(String::as_str).collect::<Vec<_>>()));
        assert_eq!(weights(&whole.join("model.safetensors")), weights(&cut.join("model.safetensors")));
    });
}

#[test]
fn runs_that_go_non_finite_or_make_no_sense_stop_with_one_error() {
    with_gpu!(_ctx => {
        let dir = temp_dir("nonsense");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        let out = dir.join("lr");
        let diverging = distill_in(&dir, &["train", "--data", d, "--hidden", "8", "--epochs", "2", "--lr", "1e30", "--out", out.to_str().unwrap()]);
        fails_with(&diverging, "became non-finite at epoch");
        assert!(!out.join("model.safetensors").exists(), "non-finite weights were saved");
        // What checkpoint there is holds the last good epoch (loading checks every weight).
        let checkpoint = out.join("checkpoints/model.safetensors");
        if checkpoint.exists() {
            let c = distill_wgpu::train::Checkpoint::load(&checkpoint).unwrap();
            assert!(c.logs.iter().all(|l| l.loss.total.is_finite()));
        }
        let fresh = |name: &str| dir.join(name).to_str().unwrap().to_string();
        fails_with(&distill_in(&dir, &["train", "--data", d, "--jitter", "8", "--out", &fresh("j")]), "jitter 8");
        fails_with(&distill_in(&dir, &["train", "--data", d, "--dropout", "0.99999994", "--out", &fresh("p")]), "dropout");
        fails_with(&distill_in(&dir, &["run", "--data", d, "--temperature", "1e20", "--out", &fresh("t")]), "temperature");
        fails_with(&distill_in(&dir, &["run", "--data", d, "--teacher-epochs", "0", "--out", &fresh("r")]), "teacher-epochs");
        fails_with(&distill_in(&dir, &["train", "--data", d, "--hidden", "8", "--epochs", "18446744073709551615", "--out", &fresh("e")]), "steps a run can count");
    });
}

#[test]
fn a_teacher_with_overflowing_logits_is_reported_not_used() {
    with_gpu!(_ctx => {
        let dir = temp_dir("huge");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        // Finite weights whose products overflow f32: every logit is ±inf or NaN.
        let spec = distill_wgpu::MlpSpec::relu(&[64, 4, 3]).unwrap();
        let params = vec![1e30f32; spec.parameter_count()];
        let teacher = dir.join("huge.safetensors");
        io::save(&teacher, &spec, &params, &[]).unwrap();
        let t = teacher.to_str().unwrap();
        fails_with(&distill_in(&dir, &["eval", "--data", d, "--model", t]), "non-finite logits");
        let out = dir.join("out");
        fails_with(&distill_in(&dir, &["distill", "--data", d, "--teacher", t, "--hidden", "4", "--out", out.to_str().unwrap()]), "non-finite logits");
        assert!(!out.join("student-distilled.safetensors").exists());
    });
}

#[test]
fn a_model_trained_on_some_classes_records_them() {
    with_gpu!(_ctx => {
        let dir = temp_dir("classes");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        let out = dir.join("out");
        let run = distill_in(&dir, &["train", "--data", d, "--classes", "0-1", "--hidden", "8", "--epochs", "1", "--out", out.to_str().unwrap()]);
        ok(&run);
        assert!(String::from_utf8_lossy(&run.stdout).contains("classes 0-1 only"));
        let file = io::load_file(&out.join("model.safetensors")).unwrap();
        assert_eq!(file.metadata.get(distill_wgpu::classes::CLASSES_KEY).map(String::as_str), Some("0-1"));
        assert_eq!(file.spec.classes(), 3, "the model still outputs every class");
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["settings"]["classes"], "0-1");
        let count = report["models"][0]["test_count"].as_u64().unwrap();
        assert!(count > 0 && count < 60, "tested on the known classes only: {count}");
        fails_with(&distill_in(&dir, &["train", "--data", d, "--classes", "3", "--out", dir.join("x").to_str().unwrap()]), "out of range");
    });
}

#[test]
fn teacher_logits_from_npy_distill_the_same_student_as_the_teacher() {
    with_gpu!(ctx => {
        use npyz::WriterBuilder;
        let dir = temp_dir("npy");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        let teacher_out = dir.join("teacher");
        ok(&distill_in(&dir, &["train", "--data", d, "--hidden", "16", "--epochs", "2", "--out", teacher_out.to_str().unwrap()]));
        let teacher_file = teacher_out.join("model.safetensors");
        // The teacher's logits over the training set, in its stored order, as numpy would save them.
        let sets = distill_wgpu::data::read_dir(&data).unwrap();
        let train = distill_wgpu::DeviceDataset::new(ctx, &sets.train, sets.classes).unwrap();
        let (spec, params) = io::load(&teacher_file).unwrap();
        let teacher = distill_wgpu::Mlp::from_parameters(ctx, &spec, &params).unwrap();
        let logits = distill_wgpu::eval::logits(ctx, &teacher, &train, 64).unwrap();
        let write = |path: &Path, rows: u64| {
            let mut bytes = Vec::new();
            let mut w = npyz::WriteOptions::<f32>::new().default_dtype().shape(&[rows, 3]).writer(&mut bytes).begin_nd().unwrap();
            w.extend(logits.iter().copied().take(rows as usize * 3)).unwrap();
            w.finish().unwrap();
            std::fs::write(path, bytes).unwrap();
        };
        let npy = dir.join("logits.npy");
        write(&npy, 240);
        let student = |flag: &str, source: &Path, out: &str| {
            let out = dir.join(out);
            ok(&distill_in(&dir, &["distill", flag, source.to_str().unwrap(), "--data", d, "--hidden", "8", "--epochs", "2", "--out", out.to_str().unwrap()]));
            weights(&out.join("student-distilled.safetensors"))
        };
        assert_eq!(student("--teacher", &teacher_file, "a"), student("--teacher-logits", &npy, "b"));
        let short = dir.join("short.npy");
        write(&short, 200);
        fails_with(&distill_in(&dir, &["distill", "--teacher-logits", short.to_str().unwrap(), "--data", d, "--out", dir.join("c").to_str().unwrap()]), "expected [240, 3]");
        let no_teacher = distill_in(&dir, &["distill", "--data", d]);
        assert!(!no_teacher.status.success());
    });
}

#[test]
fn several_teachers_with_some_classes_each_distill_one_student() {
    with_gpu!(_ctx => {
        let dir = temp_dir("teachers");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        let teacher = |classes: &str, name: &str| {
            let out = dir.join(name);
            ok(&distill_in(&dir, &["train", "--data", d, "--classes", classes, "--hidden", "16", "--epochs", "3", "--out", out.to_str().unwrap()]));
            out.join("model.safetensors").to_str().unwrap().to_string()
        };
        let (a, b) = (teacher("0-1", "a"), teacher("1-2", "b"));
        let student = |extra: &[&str], name: &str| {
            let out = dir.join(name);
            let run = distill_in(&dir, &[&["distill", "--data", d, "--teacher", &a, "--teacher", &b, "--hidden", "8", "--epochs", "2", "--out", out.to_str().unwrap()][..], extra].concat());
            (run, out)
        };
        for (mode, name) in [("route", "route"), ("accuracy", "acc"), ("0.7,0.3", "fixed"), ("confidence", "conf")] {
            let (run, out) = student(&["--teacher-weights", mode], name);
            ok(&run);
            let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
            assert_eq!(report["settings"]["teachers"].as_array().unwrap().len(), 2);
            let epochs = report["models"][0]["epochs"].as_array().unwrap();
            let errors: Vec<Option<usize>> = epochs.iter().map(|e| e["test_errors"].as_u64().map(|n| n as usize)).collect();
            assert_eq!(metrics(&out).into_iter().map(|r| r.2).collect::<Vec<_>>(), errors);
            assert!(errors.len() == 2 && errors.iter().all(Option::is_some));
            page(&out, 5, &["student-distilled"]);
            assert!(weights(&out.join("student-distilled.safetensors")).iter().all(|v| v.is_finite()));
        }
        // The recorded class lists are used; overriding them needs one list per teacher.
        fails_with(&student(&["--teacher-classes", "0-1"], "x1").0, "--teacher-classes lists for 2 teachers");
        fails_with(&student(&["--teacher-classes", "0-1", "--teacher-classes", "5"], "x2").0, "out of range");
        fails_with(&student(&["--combine", "logits"], "x3").0, "know the same classes");
        fails_with(&student(&["--teacher-weights", "0.5"], "x4").0, "one per teacher");
        fails_with(&student(&["--teacher-weights", "-1,2"], "x5").0, "one per teacher");
        fails_with(&student(&["--teacher-weights", "best"], "x6").0, "uniform, accuracy");
        // Dropping KD where a teacher confidently contradicts the label is counted per teacher.
        let (run, out) = student(&["--kd-disagreement", "drop", "--disagreement-threshold", "0.3"], "drop");
        ok(&run);
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["settings"]["kd_dropped"].as_array().unwrap().len(), 2);
        fails_with(&student(&["--kd-disagreement", "drop", "--disagreement-threshold", "1"], "x8").0, "disagreement threshold");
        // Equal class sets may combine logits.
        let (run, _) = student(&["--teacher-classes", "0-2", "--teacher-classes", "0-2", "--combine", "logits"], "logits");
        ok(&run);

        // `run` takes the same teachers: each is scored, then scratch and distilled students.
        let out = dir.join("pipeline");
        let run = distill_in(&dir, &["run", "--data", d, "--teacher", &a, "--teacher", &b, "--teacher-weights", "route", "--hidden", "8", "--epochs", "2", "--out", out.to_str().unwrap()]);
        ok(&run);
        // report.html: loss and test-error curves, per-class bars, a confusion matrix and
        // reliability diagrams; metrics.csv: the trained jobs' epochs with their test errors.
        let html = page(&out, 5, &["teacher 1 (loaded)", "teacher 2 (loaded)", "student-scratch", "student-distilled"]);
        assert!(html.contains("Confusion matrix: student-distilled"));
        let rows = metrics(&out);
        let jobs: Vec<(&str, usize)> = rows.iter().map(|r| (r.0.as_str(), r.1)).collect();
        assert_eq!(jobs, [("student-scratch", 1), ("student-scratch", 2), ("student-distilled", 1), ("student-distilled", 2)]);
        assert!(rows.iter().all(|r| r.2.is_some_and(|e| e <= 60)), "{rows:?}");
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
        let names: Vec<&str> = report["models"].as_array().unwrap().iter().map(|m| m["model"].as_str().unwrap()).collect();
        assert_eq!(names, ["teacher 1 (loaded)", "teacher 2 (loaded)", "student-scratch", "student-distilled"]);
        assert_eq!(report["settings"]["teachers"].as_array().unwrap().len(), 2);
        assert!(report["settings"]["teacher_weights"].as_str().unwrap().starts_with("Route"));
        fails_with(&distill_in(&dir, &["run", "--data", d, "--teacher", &a, "--train-teacher"]), "cannot be used with");
        let bundled = concat!(env!("CARGO_MANIFEST_DIR"), "/models/teacher-mnist10k.safetensors");
        fails_with(&distill_in(&dir, &["run", "--data", d, "--teacher", &a, "--teacher", bundled, "--out", dir.join("x7").to_str().unwrap()]), "has sizes");
    });
}

#[test]
fn calibrate_fits_on_the_held_out_share_and_distill_uses_it() {
    with_gpu!(_ctx => {
        let dir = temp_dir("calibrate");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
        ok(&distill_in(&dir, &["train", "--data", d, "--hidden", "16", "--epochs", "3", "--val-fraction", "0.25", "--out", &path("held")]));
        let model = dir.join("held/model.safetensors");
        let file = io::load_file(&model).unwrap();
        assert_eq!(file.metadata.get("distill_wgpu.held_out").map(String::as_str), Some("0.25;1"));
        let run = distill_in(&dir, &["calibrate", "--data", d, "--model", model.to_str().unwrap(), "--out", &path("cal"), "--json"]);
        ok(&run);
        let json: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(json["schema"], "distill-wgpu-calibration/1");
        assert_eq!(json["held_out_from_training"], true);
        assert_eq!(json["val_samples"], 60, "a quarter of 240");
        let t = json["temperature"].as_f64().unwrap();
        assert!(t > 0.05 && t < 50.0, "{t}");
        let (before, after) = (&json["test_before"], &json["test_after"]);
        assert_eq!(before["accuracy"], after["accuracy"], "scaling changes no prediction");
        assert_eq!(before["bins"].as_array().unwrap().len(), 15);
        let calibrated = io::load_file(&dir.join("cal/model-calibrated.safetensors")).unwrap();
        assert_eq!(calibrated.params, file.params);
        let recorded: f64 = calibrated.metadata["distill_wgpu.calibration_temperature"].parse().unwrap();
        assert!((recorded - t).abs() < 1e-6 * t);

        // A model with no held-out share gets a warning; a nonsensical fraction an error.
        ok(&distill_in(&dir, &["train", "--data", d, "--hidden", "16", "--epochs", "1", "--out", &path("plain")]));
        let warned = distill_in(&dir, &["calibrate", "--data", d, "--model", &path("plain/model.safetensors"), "--out", &path("cal2")]);
        ok(&warned);
        assert!(String::from_utf8_lossy(&warned.stdout).contains("warning: the model records no held-out share"));
        fails_with(&distill_in(&dir, &["calibrate", "--data", d, "--model", &path("plain/model.safetensors"), "--val-fraction", "1.5"]), "--val-fraction");

        // --calibrate-teacher divides by the recorded temperature.
        let teacher = path("cal/model-calibrated.safetensors");
        ok(&distill_in(&dir, &["distill", "--data", d, "--teacher", &teacher, "--calibrate-teacher", "--hidden", "8", "--epochs", "1", "--out", &path("student")]));
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("student/report.json")).unwrap()).unwrap();
        let used = report["settings"]["teacher_calibration"][0].as_f64().unwrap();
        assert!((used - t).abs() < 1e-6 * t, "{used} vs {t}");
    });
}

#[test]
fn a_sweep_writes_every_cell_and_seed() {
    with_gpu!(_ctx => {
        let dir = temp_dir("sweep");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        let teacher = dir.join("teacher");
        ok(&distill_in(&dir, &["train", "--data", d, "--hidden", "16", "--epochs", "2", "--out", teacher.to_str().unwrap()]));
        let t = teacher.join("model.safetensors");
        let out = dir.join("sweep");
        let run = distill_in(&dir, &["sweep", "--data", d, "--teacher", t.to_str().unwrap(), "--temperature", "1,4", "--alpha", "0,0.9", "--hidden", "8;4,4", "--train-fraction", "0.5,1", "--seeds", "1,2", "--epochs", "1", "--batch-size", "32", "--out", out.to_str().unwrap()]);
        ok(&run);
        // 2 sizes × 2 shares × (2 T × 1 α + scratch) = 12 cells, × 2 seeds.
        let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("hidden,train_fraction,temperature,alpha,seed,test_errors"));
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), 24, "{csv}");
        assert_eq!(rows.iter().filter(|r| r.split(',').nth(2) == Some("")).count(), 8, "scratch rows");
        let table = std::fs::read_to_string(out.join("sweep.md")).unwrap();
        assert!(table.contains("| 4-4 | 0.5 | 4 | 0.9 |"), "{table}");
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("sweep.json")).unwrap()).unwrap();
        assert_eq!(json["result"]["cells"].as_array().unwrap().len(), 12);
        fails_with(&distill_in(&dir, &["sweep", "--data", d, "--out", dir.join("x").to_str().unwrap()]), "needs --teacher");
        fails_with(&distill_in(&dir, &["sweep", "--data", d, "--teacher", t.to_str().unwrap(), "--train-fraction", "0", "--out", dir.join("y").to_str().unwrap()]), "(0, 1]");
        fails_with(&distill_in(&dir, &["distill", "--data", d, "--teacher", t.to_str().unwrap(), "--temperature", "1,2"]), "takes one value");
    });
}

/// This machine's host name, as a run's claim on its --out folder records it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[test]
fn a_folder_another_run_holds_is_refused_and_a_dead_runs_claim_is_not() {
    // `diagnose` claims --out, then refuses a teacher that is one of its outputs: a claim that
    // is refused stops before that check, one that is granted reaches it. No GPU is opened.
    let dir = temp_dir("claimed");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let teacher = out.join("diagnosis.json");
    std::fs::write(&teacher, b"{}").unwrap();
    let lock = out.join(".distill-lock");
    let args = [
        "diagnose",
        "--teacher",
        teacher.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--force",
    ];

    // This test process is alive: its claim holds.
    let live = format!(
        "pid {}\nhost {}\nclaim 1\n",
        std::process::id(),
        host_name()
    );
    std::fs::write(&lock, &live).unwrap();
    let refused = distill_in(&dir, &args);
    fails_with(&refused, "is in use by another distill run");
    fails_with(&refused, out.to_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        live,
        "another run's claim was touched"
    );

    // An unreadable claim (being written, or damaged) holds too, and says how to clear it.
    std::fs::write(&lock, "").unwrap();
    fails_with(
        &distill_in(&dir, &args),
        &format!("remove {}", lock.display()),
    );

    if std::path::Path::new("/proc/self").exists() {
        // A claim by a process that is gone (beyond Linux's largest id) is taken over.
        std::fs::write(
            &lock,
            format!("pid 4294967295\nhost {}\nclaim 1\n", host_name()),
        )
        .unwrap();
        fails_with(&distill_in(&dir, &args), "is an input of this run");
        assert!(!lock.exists(), "the run left its claim behind");
    }
}

#[test]
fn two_runs_started_together_into_one_folder_do_not_both_write_it() {
    with_gpu!(_ctx => {
        let dir = temp_dir("together");
        let data = tiny_data(&dir);
        for round in 0..2 {
            let out = dir.join(format!("out-{round}"));
            std::fs::create_dir_all(&out).unwrap();
            let args = ["train", "--data", data.to_str().unwrap(), "--hidden", "8", "--epochs", "3", "--quiet", "--out", out.to_str().unwrap()];
            let spawn = || {
                Command::new(env!("CARGO_BIN_EXE_distill"))
                    .current_dir(&dir)
                    .args(args)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            };
            let children = [spawn(), spawn()];
            let outputs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
            let refused: Vec<&Output> = outputs.iter().filter(|o| !o.status.success()).collect();
            assert_eq!(refused.len(), 1, "exactly one run is refused: {:?}", outputs.iter().map(|o| String::from_utf8_lossy(&o.stderr).to_string()).collect::<Vec<_>>());
            // Refused at the claim, or (when the first finished before the second looked)
            // because the folder holds results; either way the message names the folder.
            fails_with(refused[0], out.to_str().unwrap());
            assert!(out.join("model.safetensors").is_file());
            assert!(!out.join(".distill-lock").exists(), "the claim outlived the run");
        }
    });
}

#[test]
fn a_model_saved_in_float16_is_half_the_size_and_scored_as_stored() {
    with_gpu!(_ctx => {
        let dir = temp_dir("f16");
        let data = tiny_data(&dir);
        let d = data.to_str().unwrap();
        let out = |name: &str| dir.join(name);
        let train = |name: &str, precision: &str| {
            let o = out(name);
            ok(&distill_in(&dir, &["train", "--data", d, "--hidden", "32", "--epochs", "2", "--weights-precision", precision, "--out", o.to_str().unwrap()]));
        };
        train("full", "f32");
        train("half", "f16");
        let full = out("full").join("model.safetensors");
        let half = out("half").join("model.safetensors");
        let (full_len, half_len) = (std::fs::metadata(&full).unwrap().len(), std::fs::metadata(&half).unwrap().len());
        assert!(half_len * 2 < full_len + 2048, "{half_len} vs {full_len} bytes");
        // The same seed trains the same weights; the f16 file holds each rounded to nearest.
        let expected: Vec<f32> = weights(&full).iter().map(|&w| half::f16::from_f32(w).to_f32()).collect();
        assert_eq!(weights(&half), expected);
        // The errors report.json gives are the stored model's, as `eval` counts them.
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out("half").join("report.json")).unwrap()).unwrap();
        let reported = report["models"][0]["test_errors"].as_u64().unwrap();
        let eval = distill_in(&dir, &["eval", "--model", half.to_str().unwrap(), "--data", d]);
        ok(&eval);
        let printed = String::from_utf8_lossy(&eval.stdout);
        assert!(printed.contains(&format!(": {reported} errors")), "{reported} not in: {printed}");
        fails_with(&distill_in(&dir, &["train", "--data", d, "--weights-precision", "f8", "--out", out("x").to_str().unwrap()]), "f32, f16");
    });
}
