//! Which reader a `--data` path takes: an MNIST-layout IDX folder, a NumPy `.npz` archive or
//! folder of `.npy` files, or a folder of `train.csv` and `test.csv`; and the optional
//! standardization of the features with statistics of the training split alone.

use std::path::Path;

use crate::data::arrays::{read_npy_dir, read_npz};
use crate::data::dataset::Dataset;
use crate::data::idx::{read_dir, TrainTest};
use crate::data::table::read_csv_dir;
use crate::error::{check_finite, Error, Result};
use crate::files::entry_exists;
use crate::ops::gather::Inputs;

/// How a data set is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataOptions {
    /// The CSV label column (default `label`); only CSV data has named columns.
    pub label_column: Option<String>,
    /// Standardize every feature to zero mean and unit variance with the training split's
    /// statistics (applied to both splits).
    pub standardize: bool,
    /// The number of classes when the user states it. Unstated, it is one more than the
    /// largest training label, and a test label the training split never had is refused
    /// (it would silently grow the output layer); stated, every label must be below it.
    pub classes: Option<usize>,
}

/// The file formats a data set can come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// A folder of MNIST-layout IDX files.
    Idx,
    /// A `.npz` archive of `x_train`, `y_train`, `x_test`, `y_test`.
    Npz,
    /// A folder of `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy`.
    NpyDir,
    /// A folder of `train.csv` and `test.csv`.
    Csv,
}

impl DataFormat {
    /// The format of the data at `path`: a file is an `.npz` archive; a folder holding
    /// `x_train.npy` is NumPy, one holding `train.csv` is CSV, and any other folder IDX.
    pub fn detect(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                source.kind(),
                format!(
                    "{source}; a data set is a folder of MNIST IDX files \
                     (train-images-idx3-ubyte[.gz], …), an .npz archive, a folder of \
                     x_train.npy, y_train.npy, x_test.npy and y_test.npy, or a folder of \
                     train.csv and test.csv"
                ),
            ),
        })?;
        if !meta.is_dir() {
            return Ok(DataFormat::Npz);
        }
        // A broken link counts as present, so that its reader names it rather than another
        // format's files being reported missing.
        Ok(if entry_exists(&path.join("x_train.npy")) {
            DataFormat::NpyDir
        } else if entry_exists(&path.join("train.csv")) {
            DataFormat::Csv
        } else {
            DataFormat::Idx
        })
    }

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::Idx => "idx",
            DataFormat::Npz => "npz",
            DataFormat::NpyDir => "npy",
            DataFormat::Csv => "csv",
        }
    }
}

/// Reads the data set at `path` in whichever format it is ([`DataFormat::detect`]), then
/// standardizes it when asked.
pub fn read_data(path: &Path, options: &DataOptions) -> Result<TrainTest> {
    let format = DataFormat::detect(path)?;
    if options.label_column.is_some() && format != DataFormat::Csv {
        return Err(Error::InvalidConfig(format!(
            "a label column (DataOptions::label_column) names a CSV column, and {} holds {} data",
            path.display(),
            format.name()
        )));
    }
    let data = match format {
        DataFormat::Idx => read_dir(path)?,
        DataFormat::Npz => read_npz(path)?,
        DataFormat::NpyDir => read_npy_dir(path)?,
        DataFormat::Csv => read_csv_dir(path, options.label_column.as_deref())?,
    };
    let data = with_classes(data, options.classes, path, format)?;
    if options.standardize {
        standardize(data)
    } else {
        Ok(data)
    }
}

/// The file that holds a format's test labels, for errors.
fn test_labels_file(path: &Path, format: DataFormat) -> String {
    match format {
        DataFormat::Idx => format!("{} (t10k-labels-idx1-ubyte)", path.display()),
        DataFormat::Npz => format!("{} (y_test)", path.display()),
        DataFormat::NpyDir => path.join("y_test.npy").display().to_string(),
        DataFormat::Csv => path.join("test.csv").display().to_string(),
    }
}

/// Sets the class count: the one stated (every label of both splits must be below it), or
/// one more than the largest training label, refusing a test label the training split never
/// had — it would add an output the model never learns, and every sample of it is an error.
fn with_classes(
    mut data: TrainTest,
    stated: Option<usize>,
    path: &Path,
    format: DataFormat,
) -> Result<TrainTest> {
    if let Some(classes) = stated {
        if classes < 2 {
            return Err(Error::InvalidConfig(format!(
                "a class count of {classes}: a classifier needs at least 2"
            )));
        }
        for (split, set) in [("training", &data.train), ("test", &data.test)] {
            if let Some((row, &label)) = set
                .labels
                .iter()
                .enumerate()
                .find(|(_, &l)| usize::from(l) >= classes)
            {
                return Err(Error::InvalidConfig(format!(
                    "{}: the {split} split's sample {row} has label {label}, and the stated \
                     class count is {classes} (labels 0 to {})",
                    path.display(),
                    classes - 1
                )));
            }
        }
        data.classes = classes;
        return Ok(data);
    }
    let mut seen = [false; 256];
    for &label in &data.train.labels {
        seen[usize::from(label)] = true;
    }
    if let Some((row, &label)) = data
        .test
        .labels
        .iter()
        .enumerate()
        .find(|(_, &l)| !seen[usize::from(l)])
    {
        let count = seen.iter().filter(|&&s| s).count();
        return Err(Error::InvalidConfig(format!(
            "{}: test sample {row} has class {label}, which the training split never has (it \
             holds {count} classes, labels up to {}); state the class count \
             (DataOptions::classes) if the test set may hold classes training never saw",
            test_labels_file(path, format),
            data.train.classes().saturating_sub(1)
        )));
    }
    data.classes = data.train.classes().max(2);
    Ok(data)
}

/// Per-feature shift and scale: `(x − mean) / std`, both from a training split.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardization {
    /// Mean of each feature.
    pub mean: Vec<f32>,
    /// Standard deviation of each feature (1 where a feature is constant, so it maps to 0).
    pub std: Vec<f32>,
}

impl Standardization {
    /// Statistics of `train`'s features (population variance, summed in f64).
    pub fn fit(train: &Dataset) -> Result<Self> {
        let features = train.features();
        if train.is_empty() || features == 0 {
            return Err(Error::EmptyBatch);
        }
        let values = train.inputs.to_f32();
        let count = train.len() as f64;
        let mut sum = vec![0.0f64; features];
        for row in values.chunks_exact(features) {
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
        let mut squares = vec![0.0f64; features];
        for row in values.chunks_exact(features) {
            for ((q, &v), m) in squares.iter_mut().zip(row).zip(&mean) {
                *q += (v as f64 - m).powi(2);
            }
        }
        let std = squares
            .iter()
            .map(|q| {
                let s = (q / count).sqrt();
                // A constant feature carries nothing; scale 1 keeps it at 0 rather than NaN.
                if s > 1e-12 {
                    s as f32
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        })
    }

    /// `data` with every feature shifted and scaled (float32 features).
    pub fn apply(&self, data: &Dataset) -> Result<Dataset> {
        let features = data.features();
        if features != self.mean.len() {
            return Err(Error::ShapeMismatch {
                what: "standardized features".into(),
                expected: self.mean.len(),
                got: features,
            });
        }
        let mut values = data.inputs.to_f32();
        for row in values.chunks_exact_mut(features) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
        check_finite("standardized features", &values)?;
        Ok(Dataset {
            inputs: Inputs::F32(values),
            labels: data.labels.clone(),
            height: data.height,
            width: data.width,
        })
    }
}

/// Both splits standardized with the training split's statistics.
pub fn standardize(data: TrainTest) -> Result<TrainTest> {
    let stats = Standardization::fit(&data.train)?;
    Ok(TrainTest {
        train: stats.apply(&data.train)?,
        test: stats.apply(&data.test)?,
        classes: data.classes,
    })
}
