// Shared by the kernels that detect NaN or infinity (loss reduction, error counting): the
// exponent is all ones. A bit test, immune to fast-math assumptions that x != x is false.
fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

