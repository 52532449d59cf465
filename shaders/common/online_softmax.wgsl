// Shared by the row kernels (softmax, KD loss): merges two online-softmax partials
// (max, Σ exp(x − max)) into one; a partial with sum 0 is empty. Merging in a fixed tree makes
// a row's max and sum independent of how columns were split over invocations' order of arrival.
fn online_merge(x: vec2<f32>, y: vec2<f32>) -> vec2<f32> {
    if y.y == 0.0 {
        return x;
    }
    if x.y == 0.0 {
        return y;
    }
    let m = max(x.x, y.x);
    return vec2<f32>(m, x.y * exp(x.x - m) + y.y * exp(y.x - m));
}

