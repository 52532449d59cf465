//! Class sets: the `--classes` syntax, its canonical form in model metadata, and the samples a
//! set keeps.

use std::collections::HashMap;

use distill_wgpu::classes::CLASSES_KEY;
use distill_wgpu::data::Inputs;
use distill_wgpu::{ClassSet, Dataset};

#[test]
fn lists_parse_to_sets_and_print_canonically() {
    let set = ClassSet::parse("7, 0-4,3", 10).unwrap();
    assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 7]);
    assert_eq!(set.to_string(), "0-4,7");
    assert_eq!(set.len(), 6);
    assert!(set.contains(7) && !set.contains(5) && !set.contains(10));
    assert_eq!(set.mask(), vec![1, 1, 1, 1, 1, 0, 0, 1, 0, 0]);
    assert_eq!(ClassSet::parse(&set.to_string(), 10).unwrap(), set);
    assert!(ClassSet::parse("0-9", 10).unwrap().is_all());
    assert_eq!(ClassSet::parse("5", 10).unwrap().to_string(), "5");
}

#[test]
fn bad_lists_name_the_problem() {
    for (list, needle) in [
        ("", "no classes"),
        (" , ", "no classes"),
        ("3-1", "backwards"),
        ("10", "out of range"),
        ("0-10", "out of range"),
        ("a", "not a class index"),
        ("1--2", "not a class index"),
        ("-1", "not a class index"),
    ] {
        let err = ClassSet::parse(list, 10).unwrap_err().to_string();
        assert!(err.contains(needle), "{list:?}: {err}");
    }
}

#[test]
fn metadata_without_a_list_means_every_class() {
    assert!(ClassSet::from_metadata(&HashMap::new(), 3)
        .unwrap()
        .is_all());
    let meta = HashMap::from([(CLASSES_KEY.to_string(), "1".to_string())]);
    assert_eq!(
        ClassSet::from_metadata(&meta, 3)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        vec![1]
    );
    let bad = HashMap::from([(CLASSES_KEY.to_string(), "7".to_string())]);
    assert!(ClassSet::from_metadata(&bad, 3).is_err());
}

#[test]
fn filtering_keeps_the_samples_of_the_set_in_order() {
    let data = Dataset {
        inputs: Inputs::U8((0..12).collect()),
        labels: vec![0, 2, 1, 2, 0, 1],
        height: 1,
        width: 2,
    };
    let kept = data
        .filter_classes(&ClassSet::parse("2", 3).unwrap())
        .unwrap();
    assert_eq!(kept.labels, vec![2, 2]);
    assert_eq!(kept.inputs, Inputs::U8(vec![2, 3, 6, 7]));
    assert!(data
        .filter_classes(&ClassSet::parse("1", 2).unwrap())
        .is_ok());
    let none = Dataset {
        labels: vec![0, 0, 0, 0, 0, 0],
        ..data.clone()
    };
    assert!(none
        .filter_classes(&ClassSet::parse("1", 3).unwrap())
        .is_err());
    let ragged = Dataset {
        inputs: Inputs::U8(vec![0; 5]),
        ..data
    };
    assert!(ragged.filter_classes(&ClassSet::all(3)).is_err());
}
