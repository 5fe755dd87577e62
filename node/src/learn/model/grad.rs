//! Forward pass, cross-entropy loss and backpropagation, including per-example gradient norms for
//! DP-SGD clipping without materialising per-example gradients.
//!
//! For a dense layer the per-example weight gradient is the outer product `dz_i (x) [a_i, 1]`, so
//! its squared norm is `|dz_i|^2 (|a_i|^2 + 1)`. Summing that over layers gives each example's
//! gradient norm; the clipped sum is then one matrix product per layer with scaled `dz`. This is
//! the "ghost clipping" identity (Goodfellow 2015; Li et al. 2022).

use crate::learn::error::LearnError;
use crate::learn::model::{Architecture, Layer};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// What a batch contributed: the sum over examples of (clipped) gradients, and the loss.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchGradient {
    /// Sum over the batch of each example's gradient (clipped to the norm bound if one was given).
    pub sum: Vec<f32>,
    /// Sum over the batch of each example's cross-entropy loss (before the step).
    pub loss_sum: f64,
    /// Examples whose gradient norm exceeded the bound.
    pub clipped: usize,
}

fn weights<'a>(params: &'a [f32], l: &Layer) -> ArrayView2<'a, f32> {
    // The layout is fixed by `Architecture::layers`, so the slice always has this shape.
    ArrayView2::from_shape((l.outputs, l.inputs), &params[l.offset..l.bias_offset()])
        .unwrap_or_else(|e| panic!("layer layout is consistent: {e}"))
}

fn bias<'a>(params: &'a [f32], l: &Layer) -> ArrayView1<'a, f32> {
    ArrayView1::from(&params[l.bias_offset()..l.end()])
}

fn check_inputs(
    arch: &Architecture,
    params: &[f32],
    x: &ArrayView2<'_, f32>,
    y: Option<&[u32]>,
) -> Result<(), LearnError> {
    if params.len() != arch.num_params() {
        return Err(LearnError::Shape {
            reason: format!(
                "{} parameters given, the model has {}",
                params.len(),
                arch.num_params()
            ),
        });
    }
    if x.ncols() != arch.features {
        return Err(LearnError::Shape {
            reason: format!(
                "data has {} features, the model expects {}",
                x.ncols(),
                arch.features
            ),
        });
    }
    if let Some(y) = y {
        if y.len() != x.nrows() {
            return Err(LearnError::Shape {
                reason: format!("{} labels for {} rows", y.len(), x.nrows()),
            });
        }
        if let Some(&bad) = y.iter().find(|&&c| c as usize >= arch.classes) {
            return Err(LearnError::Shape {
                reason: format!("label {bad} is not below the {} classes", arch.classes),
            });
        }
    }
    Ok(())
}

/// Hidden activations (inputs of layers 1..) and output logits.
fn forward(
    arch: &Architecture,
    params: &[f32],
    x: &ArrayView2<'_, f32>,
) -> (Vec<Array2<f32>>, Array2<f32>) {
    let layers = arch.layers();
    let mut hidden: Vec<Array2<f32>> = Vec::with_capacity(layers.len() - 1);
    let mut logits = Array2::zeros((0, 0));
    for (i, l) in layers.iter().enumerate() {
        let input = if i == 0 {
            x.view()
        } else {
            hidden[i - 1].view()
        };
        let mut z = input.dot(&weights(params, l).t());
        z += &bias(params, l);
        if i + 1 < layers.len() {
            z.mapv_inplace(|v| v.max(0.0));
            hidden.push(z);
        } else {
            logits = z;
        }
    }
    (hidden, logits)
}

fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f32) -> f64 {
    let z = f64::from(z);
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// Class probabilities, one row per example (two columns `[1 - p, p]` for binary models).
pub fn predict_proba(
    arch: &Architecture,
    params: &[f32],
    x: ArrayView2<'_, f32>,
) -> Result<Array2<f32>, LearnError> {
    check_inputs(arch, params, &x, None)?;
    let (_, logits) = forward(arch, params, &x);
    Ok(probabilities(arch, &logits))
}

fn probabilities(arch: &Architecture, logits: &Array2<f32>) -> Array2<f32> {
    let n = logits.nrows();
    if arch.outputs() == 1 {
        let mut p = Array2::zeros((n, 2));
        for (i, &z) in logits.column(0).iter().enumerate() {
            let s = sigmoid(z);
            p[[i, 0]] = 1.0 - s;
            p[[i, 1]] = s;
        }
        p
    } else {
        let mut p = logits.clone();
        for mut row in p.axis_iter_mut(Axis(0)) {
            let m = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            row.mapv_inplace(|v| (v - m).exp());
            let s = row.sum();
            row.mapv_inplace(|v| v / s);
        }
        p
    }
}

/// Output-layer error `dL/dz` per example and the summed loss.
fn output_delta(arch: &Architecture, logits: &Array2<f32>, y: &[u32]) -> (Array2<f32>, f64) {
    let mut loss = 0.0f64;
    if arch.outputs() == 1 {
        let mut d = Array2::zeros((y.len(), 1));
        for (i, (&z, &c)) in logits.column(0).iter().zip(y).enumerate() {
            let t = c as f32;
            d[[i, 0]] = sigmoid(z) - t;
            loss += if c == 1 { softplus(-z) } else { softplus(z) };
        }
        (d, loss)
    } else {
        let mut p = probabilities(arch, logits);
        for (i, &c) in y.iter().enumerate() {
            let row = logits.row(i);
            let m = row.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let lse = f64::from(m)
                + row
                    .iter()
                    .map(|&v| f64::from(v - m).exp())
                    .sum::<f64>()
                    .ln();
            loss += lse - f64::from(row[c as usize]);
            p[[i, c as usize]] -= 1.0;
        }
        (p, loss)
    }
}

/// Backpropagate: `dL/dz` of every layer, in layer order.
fn backward(
    arch: &Architecture,
    params: &[f32],
    hidden: &[Array2<f32>],
    d_out: Array2<f32>,
) -> Vec<Array2<f32>> {
    let layers = arch.layers();
    let mut deltas = vec![d_out];
    for i in (1..layers.len()).rev() {
        let d = deltas.last().map(|d| d.dot(&weights(params, &layers[i])));
        let Some(mut d) = d else { break };
        // ReLU'(z) is 1 exactly where the activation is positive.
        ndarray::Zip::from(&mut d)
            .and(&hidden[i - 1])
            .for_each(|g, &a| {
                if a <= 0.0 {
                    *g = 0.0;
                }
            });
        deltas.push(d);
    }
    deltas.reverse();
    deltas
}

/// Sum of per-example gradients over a batch, each clipped to L2 norm `clip` when given, plus the
/// summed loss. Rows of `x` are examples, `y` their classes.
pub fn batch_gradient(
    arch: &Architecture,
    params: &[f32],
    x: ArrayView2<'_, f32>,
    y: &[u32],
    clip: Option<f32>,
) -> Result<BatchGradient, LearnError> {
    check_inputs(arch, params, &x, Some(y))?;
    let layers = arch.layers();
    let mut sum = vec![0.0f32; arch.num_params()];
    if y.is_empty() {
        return Ok(BatchGradient {
            sum,
            loss_sum: 0.0,
            clipped: 0,
        });
    }
    let (hidden, logits) = forward(arch, params, &x);
    let (d_out, loss_sum) = output_delta(arch, &logits, y);
    let mut deltas = backward(arch, params, &hidden, d_out);
    let input = |i: usize| {
        if i == 0 {
            x.view()
        } else {
            hidden[i - 1].view()
        }
    };
    let mut clipped = 0;
    if let Some(c) = clip {
        let mut norm2 = Array1::<f32>::zeros(y.len());
        for (i, d) in deltas.iter().enumerate() {
            let a2 = input(i).map_axis(Axis(1), |r| r.dot(&r) + 1.0);
            let d2 = d.map_axis(Axis(1), |r| r.dot(&r));
            norm2 += &(a2 * d2);
        }
        let scale = norm2.mapv(|n2| {
            let n = n2.sqrt();
            if n > c {
                c / n
            } else {
                1.0
            }
        });
        clipped = scale.iter().filter(|&&s| s < 1.0).count();
        let scale = scale.insert_axis(Axis(1));
        for d in &mut deltas {
            *d *= &scale;
        }
    }
    for (i, (l, d)) in layers.iter().zip(&deltas).enumerate() {
        let gw = d.t().dot(&input(i));
        for (dst, src) in sum[l.offset..l.bias_offset()].iter_mut().zip(gw.iter()) {
            *dst = *src;
        }
        for (dst, src) in sum[l.bias_offset()..l.end()]
            .iter_mut()
            .zip(d.sum_axis(Axis(0)).iter())
        {
            *dst = *src;
        }
    }
    Ok(BatchGradient {
        sum,
        loss_sum,
        clipped,
    })
}

/// Mean cross-entropy loss and mean (unclipped) gradient over `x`, `y`.
pub fn loss_and_gradient(
    arch: &Architecture,
    params: &[f32],
    x: ArrayView2<'_, f32>,
    y: &[u32],
) -> Result<(f64, Vec<f32>), LearnError> {
    let n = y.len().max(1) as f32;
    let g = batch_gradient(arch, params, x, y, None)?;
    Ok((
        g.loss_sum / f64::from(n),
        g.sum.into_iter().map(|v| v / n).collect(),
    ))
}

/// Every example's unclipped gradient, one row each (`n x num_params`). Memory grows with
/// `n * num_params`; training uses [`batch_gradient`], which never materialises these.
pub fn per_example_gradients(
    arch: &Architecture,
    params: &[f32],
    x: ArrayView2<'_, f32>,
    y: &[u32],
) -> Result<Array2<f32>, LearnError> {
    check_inputs(arch, params, &x, Some(y))?;
    let layers = arch.layers();
    let (hidden, logits) = forward(arch, params, &x);
    let (d_out, _) = output_delta(arch, &logits, y);
    let deltas = backward(arch, params, &hidden, d_out);
    let mut g = Array2::<f32>::zeros((y.len(), arch.num_params()));
    for (li, (l, d)) in layers.iter().zip(&deltas).enumerate() {
        let input = if li == 0 {
            x.view()
        } else {
            hidden[li - 1].view()
        };
        for n in 0..y.len() {
            let mut row = g.row_mut(n);
            for o in 0..l.outputs {
                let dz = d[[n, o]];
                for k in 0..l.inputs {
                    row[l.offset + o * l.inputs + k] = dz * input[[n, k]];
                }
                row[l.bias_offset() + o] = dz;
            }
        }
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::learn::model::ModelKind;
    use ndarray::array;

    fn archs() -> Vec<Architecture> {
        vec![
            Architecture::new(ModelKind::Logistic, 3, 2, vec![]).unwrap(),
            Architecture::new(ModelKind::Softmax, 3, 3, vec![]).unwrap(),
            Architecture::new(ModelKind::Mlp, 3, 2, vec![5]).unwrap(),
            Architecture::new(ModelKind::Mlp, 3, 3, vec![4, 3]).unwrap(),
        ]
    }

    fn data(classes: u32) -> (Array2<f32>, Vec<u32>) {
        let x = array![
            [0.5, -1.0, 2.0],
            [1.5, 0.3, -0.7],
            [-0.2, 0.8, 0.1],
            [2.0, 2.0, -2.0]
        ];
        (x, vec![1, 0, 2 % classes, 1])
    }

    /// Per-example gradients match central finite differences of the per-example loss.
    #[test]
    fn gradients_match_finite_differences() {
        for arch in archs() {
            let (x, y) = data(arch.classes as u32);
            let p = arch.init(11);
            let g = per_example_gradients(&arch, &p, x.view(), &y).unwrap();
            for n in 0..y.len() {
                let xi = x.select(Axis(0), &[n]);
                let xi = xi.view();
                for j in (0..p.len()).step_by(3) {
                    let h = 1e-2f32;
                    let mut up = p.clone();
                    up[j] += h;
                    let mut dn = p.clone();
                    dn[j] -= h;
                    let lu = batch_gradient(&arch, &up, xi, &y[n..n + 1], None)
                        .unwrap()
                        .loss_sum;
                    let ld = batch_gradient(&arch, &dn, xi, &y[n..n + 1], None)
                        .unwrap()
                        .loss_sum;
                    let fd = (lu - ld) / (2.0 * f64::from(h));
                    assert!(
                        (fd - f64::from(g[[n, j]])).abs() < 2e-3,
                        "{:?} ex {n} param {j}: fd {fd} vs {}",
                        arch.kind,
                        g[[n, j]]
                    );
                }
            }
        }
    }

    /// The clipped batch sum equals clipping the materialised per-example gradients.
    #[test]
    fn ghost_clipping_equals_explicit_clipping() {
        for arch in archs() {
            let (x, y) = data(arch.classes as u32);
            let p: Vec<f32> = arch.init(5).iter().map(|v| v * 20.0).collect();
            let g = per_example_gradients(&arch, &p, x.view(), &y).unwrap();
            let c = 0.5f32;
            let mut expect = vec![0.0f32; p.len()];
            let mut n_clipped = 0;
            for row in g.rows() {
                let norm = row.dot(&row).sqrt();
                let s = if norm > c { c / norm } else { 1.0 };
                n_clipped += usize::from(norm > c);
                for (e, v) in expect.iter_mut().zip(row) {
                    *e += v * s;
                }
            }
            let got = batch_gradient(&arch, &p, x.view(), &y, Some(c)).unwrap();
            assert_eq!(got.clipped, n_clipped);
            for (a, b) in got.sum.iter().zip(&expect) {
                assert!((a - b).abs() < 1e-4, "{:?}: {a} vs {b}", arch.kind);
            }
            let unclipped = batch_gradient(&arch, &p, x.view(), &y, None).unwrap();
            let summed = g.sum_axis(Axis(0));
            for (a, b) in unclipped.sum.iter().zip(summed.iter()) {
                assert!((a - b).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn probabilities_are_distributions_and_shapes_are_checked() {
        for arch in archs() {
            let (x, y) = data(arch.classes as u32);
            let p = arch.init(1);
            let pr = predict_proba(&arch, &p, x.view()).unwrap();
            assert_eq!(pr.dim(), (4, arch.classes));
            for row in pr.rows() {
                assert!((row.sum() - 1.0).abs() < 1e-5);
            }
            assert!(predict_proba(&arch, &p[1..], x.view()).is_err());
            let bad_y = vec![9; 4];
            assert!(batch_gradient(&arch, &p, x.view(), &bad_y, None).is_err());
            assert!(batch_gradient(&arch, &p, x.view(), &y[..2], None).is_err());
        }
    }

    #[test]
    fn logistic_loss_is_log2_at_zero() {
        let arch = Architecture::new(ModelKind::Logistic, 3, 2, vec![]).unwrap();
        let (x, y) = data(2);
        let (loss, _) = loss_and_gradient(&arch, &[0.0; 4], x.view(), &y).unwrap();
        assert!((loss - std::f64::consts::LN_2).abs() < 1e-9);
    }
}
