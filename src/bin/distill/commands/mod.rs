//! One file per subcommand.

pub mod bench;
pub mod calibrate;
pub mod diagnose;
pub mod distill;
pub mod eval;
pub mod experiment;
pub mod mutual;
pub mod regression;
pub mod run;
pub mod sweep;
pub mod train;
pub mod validate;
