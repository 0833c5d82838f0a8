//! [`Shape`]: a symbolic shape that prints the way Keras prints it, and
//! [`format_shape`] / [`format_dims`] for symbolic and concrete shapes.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};

/// A symbolic shape: one entry per axis, the batch axis first; `None` is
/// unknown until run time.
///
/// It derefs to `Vec<Option<usize>>` (index it, iterate it, `len()`), and both
/// `{}` and `{:?}` print it as Keras does:
///
/// ```
/// use tensorweave_core::Shape;
/// let shape = Shape::from([None, Some(100), Some(128)]);
/// assert_eq!(format!("{shape:?}"), "(None, 100, 128)");
/// assert_eq!(Shape::from([Some(3)]).to_string(), "(3,)");
/// assert_eq!(shape[1], Some(100));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Shape(Vec<Option<usize>>);

impl Shape {
    /// A shape from its axes.
    pub fn new(axes: Vec<Option<usize>>) -> Self {
        Shape(axes)
    }

    /// A shape with every axis known.
    pub fn known(dims: &[usize]) -> Self {
        Shape(dims.iter().map(|&d| Some(d)).collect())
    }

    /// The axes.
    pub fn into_vec(self) -> Vec<Option<usize>> {
        self.0
    }
}

impl Deref for Shape {
    type Target = Vec<Option<usize>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl DerefMut for Shape {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl AsRef<[Option<usize>]> for Shape {
    fn as_ref(&self) -> &[Option<usize>] {
        &self.0
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_shape(&self.0))
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_shape(&self.0))
    }
}

impl From<Vec<Option<usize>>> for Shape {
    fn from(axes: Vec<Option<usize>>) -> Self {
        Shape(axes)
    }
}

impl From<&[Option<usize>]> for Shape {
    fn from(axes: &[Option<usize>]) -> Self {
        Shape(axes.to_vec())
    }
}

impl<const N: usize> From<[Option<usize>; N]> for Shape {
    fn from(axes: [Option<usize>; N]) -> Self {
        Shape(axes.to_vec())
    }
}

impl From<Shape> for Vec<Option<usize>> {
    fn from(shape: Shape) -> Self {
        shape.0
    }
}

impl FromIterator<Option<usize>> for Shape {
    fn from_iter<I: IntoIterator<Item = Option<usize>>>(iter: I) -> Self {
        Shape(iter.into_iter().collect())
    }
}

impl IntoIterator for Shape {
    type Item = Option<usize>;
    type IntoIter = std::vec::IntoIter<Option<usize>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Shape {
    type Item = &'a Option<usize>;
    type IntoIter = std::slice::Iter<'a, Option<usize>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Extend<Option<usize>> for Shape {
    fn extend<I: IntoIterator<Item = Option<usize>>>(&mut self, iter: I) {
        self.0.extend(iter)
    }
}

impl PartialEq<Vec<Option<usize>>> for Shape {
    fn eq(&self, other: &Vec<Option<usize>>) -> bool {
        &self.0 == other
    }
}

impl PartialEq<[Option<usize>]> for Shape {
    fn eq(&self, other: &[Option<usize>]) -> bool {
        self.0 == other
    }
}

impl<const N: usize> PartialEq<[Option<usize>; N]> for Shape {
    fn eq(&self, other: &[Option<usize>; N]) -> bool {
        self.0 == other
    }
}

impl PartialEq<Shape> for Vec<Option<usize>> {
    fn eq(&self, other: &Shape) -> bool {
        self == &other.0
    }
}

/// Formats a symbolic shape the way Keras prints it: `(None, 10, 8)`, `(3,)`.
pub fn format_shape(shape: &[Option<usize>]) -> String {
    let parts: Vec<String> = shape
        .iter()
        .map(|d| d.map_or_else(|| "None".to_string(), |n| n.to_string()))
        .collect();
    tuple(&parts)
}

/// Formats a concrete shape the way numpy prints it: `(32, 2)`, `(5,)`, `()`.
///
/// ```
/// assert_eq!(tensorweave_core::format_dims(&[32, 2]), "(32, 2)");
/// ```
pub fn format_dims<D: fmt::Display>(dims: &[D]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    tuple(&parts)
}

fn tuple(parts: &[String]) -> String {
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}
