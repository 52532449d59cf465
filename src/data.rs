//! Data: an IDX reader (the MNIST file format, gzip or raw) and the device-resident data set
//! that mini-batches are gathered from on the GPU.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::context::{Dispatch, GpuContext};
use crate::error::{Error, Result};
use crate::mlp::{ForwardPlan, Mlp};
use crate::model::SplitMix64;

/// An image classification data set in memory: u8 pixels `[count, height·width]`, labels.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Pixels, row-major per image.
    pub pixels: Vec<u8>,
    /// Class of each image.
    pub labels: Vec<u8>,
    /// Image height.
    pub height: usize,
    /// Image width.
    pub width: usize,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per sample (`height·width`).
    pub fn features(&self) -> usize {
        self.height * self.width
    }

    /// One more than the largest label.
    pub fn classes(&self) -> usize {
        self.labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1)
    }

    /// Inputs scaled to [0, 1] for samples `range`, as f32 (for host-side use and tests).
    pub fn inputs_f32(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        let f = self.features();
        self.pixels[range.start * f..range.end * f]
            .iter()
            .map(|&p| p as f32 / 255.0)
            .collect()
    }

    /// `count` random `height × width` images with random labels below `classes` (benchmarks).
    pub fn random(
        rng: &mut SplitMix64,
        count: usize,
        height: usize,
        width: usize,
        classes: usize,
    ) -> Dataset {
        Dataset {
            pixels: (0..count * height * width)
                .map(|_| rng.below(256) as u8)
                .collect(),
            labels: (0..count).map(|_| rng.below(classes) as u8).collect(),
            height,
            width,
        }
    }

    /// The first `count` samples.
    pub fn head(&self, count: usize) -> Dataset {
        let count = count.min(self.len());
        Dataset {
            pixels: self.pixels[..count * self.features()].to_vec(),
            labels: self.labels[..count].to_vec(),
            height: self.height,
            width: self.width,
        }
    }
}

/// An IDX array: dimensions and u8 data.
#[derive(Debug, Clone)]
pub struct IdxArray {
    /// Sizes, outermost first.
    pub dims: Vec<usize>,
    /// The bytes.
    pub data: Vec<u8>,
}

fn format_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Format {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads an IDX file of unsigned bytes (type 0x08), gzip-compressed or raw.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let raw = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| format_error(path, format!("corrupt or truncated gzip data: {e}")))?;
        out
    } else {
        raw
    };
    parse_idx(path, &bytes)
}

/// Parses IDX bytes (`path` only names the source in errors).
pub fn parse_idx(path: &Path, bytes: &[u8]) -> Result<IdxArray> {
    if bytes.len() < 4 {
        return Err(format_error(
            path,
            format!("{} bytes is too short for an IDX header", bytes.len()),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(format_error(
            path,
            format!(
                "bad IDX magic {:02x}{:02x}{:02x}{:02x}: expected 0000 then type and rank",
                bytes[0], bytes[1], bytes[2], bytes[3]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(format_error(
            path,
            format!(
                "IDX element type 0x{:02x} is not unsigned byte (0x08)",
                bytes[2]
            ),
        ));
    }
    let rank = bytes[3] as usize;
    if rank == 0 || rank > 4 {
        return Err(format_error(path, format!("IDX rank {rank} is not 1 to 4")));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(format_error(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            u32::from_be_bytes([
                bytes[4 + 4 * i],
                bytes[5 + 4 * i],
                bytes[6 + 4 * i],
                bytes[7 + 4 * i],
            ]) as usize
        })
        .collect();
    let expected = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    let body = bytes.len() - header;
    match expected {
        Some(n) if n == body => Ok(IdxArray {
            dims,
            data: bytes[header..].to_vec(),
        }),
        Some(n) => Err(format_error(
            path,
            format!("IDX dimensions {dims:?} need {n} data bytes, file has {body}"),
        )),
        None => Err(format_error(
            path,
            format!("IDX dimensions {dims:?} overflow"),
        )),
    }
}

/// Reads an image file (rank 3: count, rows, cols) and a label file (rank 1) into a data set.
pub fn read_pair(images: &Path, labels: &Path) -> Result<Dataset> {
    let img = read_idx(images)?;
    let lab = read_idx(labels)?;
    if img.dims.len() != 3 {
        return Err(format_error(
            images,
            format!(
                "image file must have rank 3 (count, rows, cols), has dims {:?}",
                img.dims
            ),
        ));
    }
    if lab.dims.len() != 1 {
        return Err(format_error(
            labels,
            format!("label file must have rank 1, has dims {:?}", lab.dims),
        ));
    }
    if img.dims[0] != lab.dims[0] {
        return Err(format_error(
            labels,
            format!(
                "{} labels for {} images in {}",
                lab.dims[0],
                img.dims[0],
                images.display()
            ),
        ));
    }
    if img.dims[0] == 0 {
        return Err(format_error(images, "no samples"));
    }
    Ok(Dataset {
        pixels: img.data,
        labels: lab.data,
        height: img.dims[1],
        width: img.dims[2],
    })
}

/// Finds `stem` or `stem.gz` in `dir`.
fn find_file(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [stem.to_string(), format!("{stem}.gz")] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::Io {
        path: dir.join(stem),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("neither {stem} nor {stem}.gz exists"),
        ),
    })
}

/// A train/test pair read from a folder laid out like the MNIST distribution.
#[derive(Debug, Clone)]
pub struct TrainTest {
    /// Training set.
    pub train: Dataset,
    /// Test set.
    pub test: Dataset,
    /// Classes across both.
    pub classes: usize,
}

/// Reads `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and
/// `t10k-labels-idx1-ubyte` (each optionally `.gz`) from `dir`.
pub fn read_dir(dir: &Path) -> Result<TrainTest> {
    let train = read_pair(
        &find_file(dir, "train-images-idx3-ubyte")?,
        &find_file(dir, "train-labels-idx1-ubyte")?,
    )?;
    let test_images = find_file(dir, "t10k-images-idx3-ubyte")?;
    let test = read_pair(&test_images, &find_file(dir, "t10k-labels-idx1-ubyte")?)?;
    if (train.height, train.width) != (test.height, test.width) {
        return Err(format_error(
            &test_images,
            format!(
                "test images are {}x{}, training images {}x{}",
                test.height, test.width, train.height, train.width
            ),
        ));
    }
    let classes = train.classes().max(test.classes()).max(2);
    Ok(TrainTest {
        train,
        test,
        classes,
    })
}

/// The bundled MNIST-10k subset (8004 train / 1996 test).
pub fn bundled_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join("mnist10k")
}

#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct GatherParams {
    pub rows: u32,
    pub features: u32,
    pub classes: u32,
    pub start: u32,
    pub width: u32,
    pub height: u32,
    pub jitter: u32,
    pub seed: u32,
    pub step: u32,
    pub gather_teacher: u32,
    pub pad: [u32; 2],
}

/// The per-step batch buffers a gather writes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchBuffers<'a> {
    pub inputs: &'a wgpu::Buffer,
    pub labels: &'a wgpu::Buffer,
    pub teacher: &'a wgpu::Buffer,
}

/// A data set uploaded to the GPU once: packed u8 pixels, labels, a shuffled sample order and,
/// once set, the cached teacher logits of every sample.
#[derive(Debug)]
pub struct DeviceDataset {
    pub(crate) pixels: wgpu::Buffer,
    pub(crate) labels: wgpu::Buffer,
    pub(crate) order: wgpu::Buffer,
    pub(crate) teacher: Option<wgpu::Buffer>,
    identity_order: wgpu::Buffer,
    host_labels: Vec<u8>,
    count: usize,
    width: usize,
    height: usize,
    classes: usize,
}

impl DeviceDataset {
    /// Uploads `data` (with `classes` classes) once.
    pub fn new(ctx: &GpuContext, data: &Dataset, classes: usize) -> Result<Self> {
        if data.is_empty() {
            return Err(Error::EmptyBatch);
        }
        if let Some(row) = data.labels.iter().position(|&l| l as usize >= classes) {
            return Err(Error::LabelOutOfRange {
                row,
                label: data.labels[row] as u32,
                classes,
            });
        }
        let mut packed = vec![0u32; data.pixels.len().div_ceil(4)];
        for (i, &p) in data.pixels.iter().enumerate() {
            packed[i / 4] |= (p as u32) << (8 * (i % 4));
        }
        let labels: Vec<u32> = data.labels.iter().map(|&l| l as u32).collect();
        let identity: Vec<u32> = (0..data.len() as u32).collect();
        Ok(Self {
            pixels: ctx.storage_buffer(
                "dataset pixels",
                packed.len(),
                Some(bytemuck::cast_slice(&packed)),
            )?,
            labels: ctx.storage_buffer(
                "dataset labels",
                labels.len(),
                Some(bytemuck::cast_slice(&labels)),
            )?,
            order: ctx.storage_buffer(
                "dataset order",
                identity.len(),
                Some(bytemuck::cast_slice(&identity)),
            )?,
            identity_order: ctx.storage_buffer(
                "dataset identity order",
                identity.len(),
                Some(bytemuck::cast_slice(&identity)),
            )?,
            teacher: None,
            host_labels: data.labels.clone(),
            count: data.len(),
            width: data.width,
            height: data.height,
            classes,
        })
    }

    /// Samples.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when empty (never, once constructed).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Features per sample.
    pub fn features(&self) -> usize {
        self.width * self.height
    }

    /// Classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Reshuffles the sample order (seeded) and uploads it; called once per epoch.
    pub fn shuffle(&self, ctx: &GpuContext, seed: u64) {
        let mut order: Vec<u32> = (0..self.count as u32).collect();
        SplitMix64::new(seed).shuffle(&mut order);
        ctx.write(&self.order, 0, &order);
    }

    /// Caches `teacher`'s logits for every sample on the GPU (the teacher is frozen).
    pub fn cache_teacher_logits(
        &mut self,
        ctx: &GpuContext,
        teacher: &Mlp,
        batch: usize,
    ) -> Result<()> {
        self.teacher = Some(self.logits_buffer(ctx, teacher, batch)?);
        Ok(())
    }

    /// The cached teacher logits, read back.
    pub fn read_teacher_logits(&self, ctx: &GpuContext) -> Result<Option<Vec<f32>>> {
        self.teacher
            .as_ref()
            .map(|b| ctx.read_back("teacher logits", b, 0, self.count * self.classes))
            .transpose()
    }

    pub(crate) fn gather_params(
        &self,
        rows: usize,
        start: usize,
        jitter: u32,
        seed: u32,
        step: u32,
        gather_teacher: bool,
    ) -> GatherParams {
        GatherParams {
            rows: rows as u32,
            features: self.features() as u32,
            classes: self.classes as u32,
            start: start as u32,
            width: self.width as u32,
            height: self.height as u32,
            jitter,
            seed,
            step,
            gather_teacher: gather_teacher as u32,
            pad: [0; 2],
        }
    }

    /// A gather dispatch into `inputs`/`labels`/`teacher_out`, driven by `uniform`.
    pub(crate) fn gather_dispatch(
        &self,
        ctx: &GpuContext,
        rows: usize,
        identity: bool,
        uniform: &wgpu::Buffer,
        out: BatchBuffers<'_>,
    ) -> Result<Dispatch> {
        let BatchBuffers {
            inputs,
            labels,
            teacher: teacher_out,
        } = out;
        let pipeline = ctx.pipelines.gather.clone();
        let dummy;
        let teacher_in = match &self.teacher {
            Some(t) => t,
            None => {
                dummy = ctx.storage_buffer("no teacher logits", 1, None)?;
                &dummy
            }
        };
        let order = if identity {
            &self.identity_order
        } else {
            &self.order
        };
        let bind_group = ctx.bind_group(
            "gather",
            &pipeline,
            &[
                uniform,
                &self.pixels,
                &self.labels,
                teacher_in,
                order,
                inputs,
                labels,
                teacher_out,
            ],
        )?;
        let x = self
            .features()
            .max(self.classes)
            .div_ceil(crate::kernels::ELEMENT_WORKGROUP);
        Ok(Dispatch {
            label: "gather batch".into(),
            pipeline,
            bind_group,
            groups: ctx.check_grid("gather batch", x, rows)?,
        })
    }

    /// Logits `[count, classes]` of `model` for every sample, computed in chunks of `batch`.
    pub fn logits_buffer(
        &self,
        ctx: &GpuContext,
        model: &Mlp,
        batch: usize,
    ) -> Result<wgpu::Buffer> {
        let spec = model.spec();
        if spec.inputs() != self.features() || spec.classes() != self.classes {
            return Err(Error::InvalidConfig(format!(
                "model {:?} does not fit data with {} features and {} classes",
                spec.sizes,
                self.features(),
                self.classes
            )));
        }
        let batch = batch.clamp(1, self.count);
        let inputs = ctx.storage_buffer("eval inputs", batch * self.features(), None)?;
        let labels = ctx.storage_buffer("eval labels", batch, None)?;
        let unused_teacher = ctx.storage_buffer("eval teacher", 1, None)?;
        let uniform = ctx.uniform_buffer(
            "eval gather params",
            &self.gather_params(batch, 0, 0, 0, 0, false),
        )?;
        let gather = self.gather_dispatch(
            ctx,
            batch,
            true,
            &uniform,
            BatchBuffers {
                inputs: &inputs,
                labels: &labels,
                teacher: &unused_teacher,
            },
        )?;
        let plan = ForwardPlan::new(ctx, spec, model.params_buffer(), &inputs, batch, "eval")?;
        let all = ctx.storage_buffer("all logits", self.count * self.classes, None)?;
        let row_bytes = (self.classes * 4) as u64;
        for start in (0..self.count).step_by(batch) {
            let rows = batch.min(self.count - start);
            ctx.write(
                &uniform,
                0,
                &[self.gather_params(rows, start, 0, 0, 0, false)],
            );
            ctx.scoped("evaluating logits", || {
                let mut encoder =
                    ctx.device
                        .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                            label: Some("eval chunk"),
                        });
                crate::context::record(&mut encoder, "eval gather", std::slice::from_ref(&gather));
                crate::context::record(&mut encoder, "eval forward", &plan.dispatches);
                encoder.copy_buffer_to_buffer(
                    plan.logits(),
                    0,
                    &all,
                    start as u64 * row_bytes,
                    rows as u64 * row_bytes,
                );
                ctx.queue.submit([encoder.finish()]);
            })?;
        }
        Ok(all)
    }

    /// Errors and accuracy of `model` on this data set, counted on the GPU: logits in chunks
    /// of `batch`, argmax against the labels, one 4-byte read-back.
    pub fn evaluate(&self, ctx: &GpuContext, model: &Mlp, batch: usize) -> Result<Evaluation> {
        let logits = self.logits_buffer(ctx, model, batch)?;
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        struct CountParams {
            rows: u32,
            cols: u32,
            pad: [u32; 2],
        }
        let params = CountParams {
            rows: self.count as u32,
            cols: self.classes as u32,
            pad: [0; 2],
        };
        let uniform = ctx.uniform_buffer("count errors params", &params)?;
        let errors = ctx.storage_buffer("error count", 1, Some(bytemuck::bytes_of(&0u32)))?;
        let pipeline = ctx.pipelines.count_errors.clone();
        let bind_group = ctx.bind_group(
            "count errors",
            &pipeline,
            &[&uniform, &logits, &self.labels, &errors],
        )?;
        let x = self.count.div_ceil(crate::kernels::ELEMENT_WORKGROUP);
        let dispatch = Dispatch {
            label: "count errors".into(),
            pipeline,
            bind_group,
            groups: ctx.check_grid("count errors", x, 1)?,
        };
        ctx.run("count errors", &[dispatch])?;
        let count: Vec<u32> = ctx.read_back("error count", &errors, 0, 1)?;
        Ok(Evaluation {
            errors: count[0] as usize,
            count: self.count,
        })
    }

    /// Labels as uploaded (host copy).
    pub fn labels(&self) -> &[u8] {
        &self.host_labels
    }
}

/// Index of the largest value (first on ties; NaN never wins).
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Classification result on a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    /// Misclassified samples.
    pub errors: usize,
    /// Samples evaluated.
    pub count: usize,
}

impl Evaluation {
    /// Fraction classified correctly.
    pub fn accuracy(&self) -> f64 {
        1.0 - self.errors as f64 / self.count.max(1) as f64
    }
}
