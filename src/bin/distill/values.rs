//! Typed flag values and the parsers clap calls for them, so a bad value is refused by clap
//! (naming the flag, the value and what it accepts) before any data is read or file written.

use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::ValueEnum;

use distill_wgpu::experiment::Experiment;
use distill_wgpu::model::io::WeightPrecision;
use distill_wgpu::{Combine, Error};

/// An enum of choices a flag takes, and what one of its values is called in an error.
pub trait Choices: ValueEnum + Clone + Send + Sync + 'static {
    /// What one value is, e.g. "backend".
    const WHAT: &'static str;
}

/// Parses a [`Choices`] enum (ignoring case, aliases included). `--help` lists the choices,
/// and so does the one error line of a value that is none of them.
#[derive(Clone, Debug)]
pub struct ChoiceParser<E>(PhantomData<E>);

impl<E> ChoiceParser<E> {
    /// The parser of `E`.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

/// Every choice of `E` by name, comma-separated.
fn names<E: ValueEnum>() -> String {
    let names: Vec<String> = E::value_variants()
        .iter()
        .filter_map(ValueEnum::to_possible_value)
        .map(|v| v.get_name().to_string())
        .collect();
    names.join(", ")
}

fn parse_choice<E: Choices>(text: String) -> Result<E, String> {
    E::from_str(&text, true).map_err(|_| {
        format!(
            "unknown {} {text:?}; expected one of {}",
            E::WHAT,
            names::<E>()
        )
    })
}

impl<E: Choices> TypedValueParser for ChoiceParser<E> {
    type Value = E;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<E, clap::Error> {
        StringValueParser::new()
            .try_map(parse_choice::<E>)
            .parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            E::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

/// `--backend`: a wgpu backend to search.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Vulkan (also `vk`).
    #[value(alias = "vk")]
    Vulkan,
    /// OpenGL / GLES (also `gles`, `opengl`).
    #[value(aliases = ["gles", "opengl"])]
    Gl,
    /// Metal (also `mtl`).
    #[value(alias = "mtl")]
    Metal,
    /// Direct3D 12 (also `d3d12`).
    #[value(alias = "d3d12")]
    Dx12,
    /// The browser's WebGPU (also `browser`).
    #[value(alias = "browser")]
    Webgpu,
}

impl Choices for Backend {
    const WHAT: &'static str = "backend";
}

impl Backend {
    /// The wgpu backends of a `--backend` list; `None` when the list is empty.
    pub fn union(list: &[Backend]) -> Option<wgpu::Backends> {
        if list.is_empty() {
            return None;
        }
        Some(list.iter().fold(wgpu::Backends::empty(), |all, b| {
            all | match b {
                Backend::Vulkan => wgpu::Backends::VULKAN,
                Backend::Gl => wgpu::Backends::GL,
                Backend::Metal => wgpu::Backends::METAL,
                Backend::Dx12 => wgpu::Backends::DX12,
                Backend::Webgpu => wgpu::Backends::BROWSER_WEBGPU,
            }
        }))
    }
}

/// `--combine`: how weighed teachers combine.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CombineChoice {
    /// Weighted KL to each teacher, each over its own classes (the default).
    Mixture,
    /// KL to the weighted average of the teachers' logits (equal class sets only).
    Logits,
}

impl Choices for CombineChoice {
    const WHAT: &'static str = "combine mode";
}

impl CombineChoice {
    /// The library's setting.
    pub fn combine(self) -> Combine {
        match self {
            CombineChoice::Mixture => Combine::Mixture,
            CombineChoice::Logits => Combine::Logits,
        }
    }
}

/// `--task`: what the model predicts.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Task {
    /// A class per sample: integer labels, cross-entropy, errors counted (the default).
    #[default]
    Classification,
    /// Real-valued targets (one or more): squared-error family losses, RMSE and MAE.
    Regression,
}

impl Choices for Task {
    const WHAT: &'static str = "task";
}

/// `--regression-loss`: the form of the regression distillation loss.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RegressionLossChoice {
    /// Squared error against targets and teacher (the default).
    #[default]
    Mse,
    /// Huber loss at --huber-delta against targets and teacher.
    Huber,
    /// Squared error against the targets plus the teacher-bounded term (Chen et al. 2017) at
    /// --bound-margin.
    Bounded,
}

impl Choices for RegressionLossChoice {
    const WHAT: &'static str = "regression loss";
}

/// A finite number (`--bound-margin`).
pub fn finite(text: &str) -> Result<f32, String> {
    let x = number(text)?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err("must be finite".into())
    }
}

/// `--weights-precision`: how a trained model's weights are stored.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PrecisionChoice {
    /// 4 bytes a weight, exactly as trained (the default).
    #[default]
    F32,
    /// 2 bytes a weight, each rounded to the nearest float16; the model is evaluated as stored.
    F16,
}

impl Choices for PrecisionChoice {
    const WHAT: &'static str = "weight precision";
}

impl PrecisionChoice {
    /// The library's setting.
    pub fn precision(self) -> WeightPrecision {
        match self {
            PrecisionChoice::F32 => WeightPrecision::F32,
            PrecisionChoice::F16 => WeightPrecision::F16,
        }
    }
}

/// `--teacher-weights`: how several teachers are weighed per sample.
#[derive(Clone, Debug, PartialEq)]
pub enum TeacherWeights {
    /// Equal weights over the teachers that know a sample's class.
    Uniform,
    /// Each teacher's accuracy on the validation share of the training set.
    Accuracy,
    /// Each teacher's probability of the true label.
    Confidence,
    /// All weight on the teacher most sure of the true label.
    Route,
    /// Fixed weights, one per teacher, each finite and ≥ 0.
    Fixed(Vec<f32>),
}

/// The named weightings, for messages.
pub const TEACHER_WEIGHTS: &str =
    "uniform, accuracy, confidence, route, or one weight ≥ 0 per teacher like 0.7,0.3";

/// Parses `--teacher-weights`.
pub fn teacher_weights(text: &str) -> Result<TeacherWeights, String> {
    let named = match text.trim().to_lowercase().as_str() {
        "uniform" => Some(TeacherWeights::Uniform),
        "accuracy" => Some(TeacherWeights::Accuracy),
        "confidence" => Some(TeacherWeights::Confidence),
        "route" => Some(TeacherWeights::Route),
        _ => None,
    };
    if let Some(named) = named {
        return Ok(named);
    }
    let numbers: Vec<f32> = text
        .split(',')
        .map(|w| w.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("unknown weighting {text:?}; expected one of {TEACHER_WEIGHTS}"))?;
    if numbers.iter().any(|w| !w.is_finite() || *w < 0.0) {
        return Err(format!(
            "need finite weights ≥ 0, one per teacher, got {text:?}"
        ));
    }
    Ok(TeacherWeights::Fixed(numbers))
}

/// One architecture's hidden widths, e.g. `800,800`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hidden(pub Vec<usize>);

/// Several architectures' hidden widths, e.g. `30;100;300,300`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HiddenList(pub Vec<Vec<usize>>);

fn widths(arch: &str, text: &str) -> Result<Vec<usize>, String> {
    let widths = arch
        .split(',')
        .map(|w| {
            w.trim()
                .parse::<usize>()
                .map_err(|_| format!("{w:?} is not a width in {text:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if widths.contains(&0) {
        return Err(format!("{text:?} has a zero width"));
    }
    Ok(widths)
}

/// Parses one architecture (`--hidden` outside `sweep` and `mutual`, `--teacher-hidden`).
pub fn hidden(text: &str) -> Result<Hidden, String> {
    if text.contains(';') {
        return Err(
            "takes one architecture here (several, separated by `;`, are for `distill sweep` \
             and `distill mutual`)"
                .into(),
        );
    }
    widths(text, text).map(Hidden)
}

/// Parses architectures separated by `;` (`sweep` and `mutual` `--hidden`).
pub fn hidden_list(text: &str) -> Result<HiddenList, String> {
    text.split(';')
        .map(|arch| widths(arch, text))
        .collect::<Result<Vec<_>, _>>()
        .map(HiddenList)
}

/// A count of at least 1 (`--epochs`, `--batch-size`, `--teacher-epochs`, …).
pub fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("not a whole number ≥ 1 ({e})")),
    }
}

fn number(text: &str) -> Result<f32, String> {
    text.trim()
        .parse::<f32>()
        .map_err(|_| format!("{text:?} is not a number"))
}

/// A finite number > 0 (`--lr`, a `--temperature` of a sweep).
pub fn positive(text: &str) -> Result<f32, String> {
    let x = number(text)?;
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err("must be finite and > 0".into())
    }
}

/// A weight in [0, 1] (an `--alpha` of a sweep).
pub fn unit(text: &str) -> Result<f32, String> {
    let x = number(text)?;
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err("must lie in [0, 1]".into())
    }
}

/// Refuses a list where one value is taken.
fn one(text: &str) -> Result<&str, String> {
    if text.contains(',') {
        Err("takes one value here (lists are for `distill sweep`)".into())
    } else {
        Ok(text)
    }
}

/// One temperature T > 0.
pub fn temperature(text: &str) -> Result<f32, String> {
    positive(one(text)?)
}

/// One α in [0, 1].
pub fn alpha(text: &str) -> Result<f32, String> {
    unit(one(text)?)
}

/// A share strictly between 0 and 1 (`--val-fraction`).
pub fn open_fraction(text: &str) -> Result<f64, String> {
    let x: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if x > 0.0 && x < 1.0 {
        Ok(x)
    } else {
        Err("must lie in (0, 1)".into())
    }
}

/// The experiments `distill experiment NAME` runs.
#[derive(Clone, Debug)]
pub struct Experiments(pub Vec<Experiment>);

/// Parses `distill experiment NAME`: one experiment, several comma-separated, or `all`.
pub fn experiments(text: &str) -> Result<Experiments, String> {
    if text.trim() == "all" {
        return Ok(Experiments(Experiment::ALL.to_vec()));
    }
    text.split(',')
        .map(|name| {
            Experiment::parse(name.trim()).map_err(|e| match e {
                Error::InvalidConfig(m) => format!("{m} (or all)"),
                other => other.to_string(),
            })
        })
        .collect::<Result<_, _>>()
        .map(Experiments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_any_case_and_aliases_and_list_every_name_when_wrong() {
        let parse = |s: &str| parse_choice::<Backend>(s.to_string());
        assert_eq!(parse("VULKAN"), Ok(Backend::Vulkan));
        assert_eq!(parse("d3d12"), Ok(Backend::Dx12));
        assert_eq!(parse("webgpu"), Ok(Backend::Webgpu));
        assert_eq!(
            parse("glide").unwrap_err(),
            "unknown backend \"glide\"; expected one of vulkan, gl, metal, dx12, webgpu"
        );
    }

    #[test]
    fn teacher_weights_are_names_or_weights() {
        assert_eq!(teacher_weights("route"), Ok(TeacherWeights::Route));
        assert_eq!(
            teacher_weights("0.7, 0.3"),
            Ok(TeacherWeights::Fixed(vec![0.7, 0.3]))
        );
        assert!(teacher_weights("best")
            .unwrap_err()
            .contains("uniform, accuracy"));
        assert!(teacher_weights("-1,2")
            .unwrap_err()
            .contains("one per teacher"));
        assert!(teacher_weights("inf")
            .unwrap_err()
            .contains("one per teacher"));
    }

    #[test]
    fn numbers_out_of_range_are_refused() {
        assert_eq!(at_least_one("3"), Ok(3));
        assert!(at_least_one("0").is_err());
        assert!(at_least_one("-3").is_err());
        assert!(positive("nan").is_err());
        assert!(temperature("1,2").unwrap_err().contains("one value"));
        assert!(alpha("1.5").is_err());
        assert_eq!(alpha("0"), Ok(0.0));
        assert!(open_fraction("-0.1").is_err());
        assert!(open_fraction("1").is_err());
        assert_eq!(open_fraction("0.25"), Ok(0.25));
    }

    #[test]
    fn architectures_parse_and_refuse_zero_widths() {
        assert_eq!(hidden("800, 800"), Ok(Hidden(vec![800, 800])));
        assert!(hidden("8;8").unwrap_err().contains("one architecture"));
        assert!(hidden("8,0").unwrap_err().contains("zero"));
        assert_eq!(
            hidden_list("30;100,100"),
            Ok(HiddenList(vec![vec![30], vec![100, 100]]))
        );
        assert!(hidden_list("8;x").unwrap_err().contains("not a width"));
    }
}

/// `--prune`: a sparsity, a fraction in [0, 1) of the weights set to zero.
pub fn sparsity(text: &str) -> Result<distill_wgpu::model::prune::Sparsity, String> {
    let x: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    distill_wgpu::model::prune::Sparsity::new(x).map_err(|_| {
        format!("sparsity {x} must lie in [0, 1): the fraction of weights pruned, e.g. 0.8")
    })
}

/// `--quantize`: how the student's weights are quantized while it trains.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantizeChoice {
    /// Symmetric int8 per output row (one f32 scale per row), quantization-aware training.
    Int8,
}

impl Choices for QuantizeChoice {
    const WHAT: &'static str = "quantization";
}
