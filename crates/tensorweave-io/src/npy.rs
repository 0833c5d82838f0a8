//! A reader of NumPy `.npy` arrays that trusts nothing in the header: the
//! claimed shape is counted with checked arithmetic and compared with the
//! bytes the file really holds, and the budget, before any element is
//! converted. A 328-byte file claiming shape `(10^12, 10)` is an error naming
//! that shape and the file's size, never an allocation.
//!
//! ```
//! use tensorweave_core::MemoryBudget;
//! use tensorweave_io::npy::Npy;
//!
//! // A (2,) float32 array as NumPy writes it.
//! let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
//! let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
//! let pad = 64 - (10 + header.len() + 1) % 64;
//! let text = format!("{header}{}\n", " ".repeat(pad));
//! bytes.extend((text.len() as u16).to_le_bytes());
//! bytes.extend(text.as_bytes());
//! bytes.extend(1.5f32.to_le_bytes());
//! bytes.extend(2.5f32.to_le_bytes());
//! let npy = Npy::from_bytes(bytes, "x.npy", &MemoryBudget::default()).unwrap();
//! assert_eq!(npy.shape(), &[2]);
//! assert_eq!(npy.to_f32().unwrap().into_raw_vec_and_offset().0, vec![1.5, 2.5]);
//! ```

use std::fmt;
use std::path::Path;
use tensorweave_core::format_dims;

use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use tensorweave_core::{Error, MemoryBudget, Result};

use crate::limits::{invalid_data, read_file, shown};

/// The element types a `.npy` may hold that this reader converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyDtype {
    /// `|b1`
    Bool,
    /// `|i1`
    I8,
    /// `i2`
    I16,
    /// `i4`
    I32,
    /// `i8`
    I64,
    /// `|u1`
    U8,
    /// `u2`
    U16,
    /// `u4`
    U32,
    /// `u8`
    U64,
    /// `f2` (recognised so that it can be refused by name)
    F16,
    /// `f4`
    F32,
    /// `f8`
    F64,
    /// `U<n>`: text, `n` UTF-32 code units per element (NumPy's `str` arrays).
    Unicode(usize),
}

impl NpyDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            NpyDtype::Bool | NpyDtype::I8 | NpyDtype::U8 => 1,
            NpyDtype::I16 | NpyDtype::U16 | NpyDtype::F16 => 2,
            NpyDtype::I32 | NpyDtype::U32 | NpyDtype::F32 => 4,
            NpyDtype::I64 | NpyDtype::U64 | NpyDtype::F64 => 8,
            NpyDtype::Unicode(n) => n.saturating_mul(4),
        }
    }

    /// Whether the type is an integer type (signed or not).
    pub fn is_integer(self) -> bool {
        !matches!(
            self,
            NpyDtype::Bool | NpyDtype::F16 | NpyDtype::F32 | NpyDtype::F64 | NpyDtype::Unicode(_)
        )
    }
}

impl fmt::Display for NpyDtype {
    /// NumPy's name: `float32`, `int64`, `bool`, ….
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let NpyDtype::Unicode(n) = self {
            return write!(f, "str (<U{n})");
        }
        f.write_str(match self {
            NpyDtype::Bool => "bool",
            NpyDtype::I8 => "int8",
            NpyDtype::I16 => "int16",
            NpyDtype::I32 => "int32",
            NpyDtype::I64 => "int64",
            NpyDtype::U8 => "uint8",
            NpyDtype::U16 => "uint16",
            NpyDtype::U32 => "uint32",
            NpyDtype::U64 => "uint64",
            NpyDtype::F16 => "float16",
            NpyDtype::F32 => "float32",
            NpyDtype::F64 => "float64",
            NpyDtype::Unicode(_) => "str",
        })
    }
}

/// A checked `.npy` array: its header agrees with its data, which fits the
/// budget. Convert it with [`Npy::to_f32`], [`Npy::to_i32`] or [`Npy::to_bool`].
#[derive(Debug, Clone)]
pub struct Npy {
    source: String,
    dtype: NpyDtype,
    big_endian: bool,
    fortran_order: bool,
    shape: Vec<usize>,
    bytes: Vec<u8>,
    data_start: usize,
}

/// An error about the `.npy` `source`.
fn npy_error(source: &str, message: impl fmt::Display) -> Error {
    invalid_data(format!("{source}: {message}"))
}

impl Npy {
    /// Reads and checks the `.npy` file at `path` (a regular file, no bigger
    /// than `budget`).
    pub fn read(path: &Path, budget: &MemoryBudget) -> Result<Npy> {
        let bytes = read_file(path, "input file", budget)?;
        Npy::from_bytes(bytes, &path.display().to_string(), budget)
    }

    /// Checks `.npy` bytes; `source` names them in errors.
    ///
    /// Fails when the bytes are not an `.npy` (magic, version, header), when
    /// the dtype is not a plain number or bool type, when the shape's byte count
    /// overflows, when the data after the header is shorter or longer than the
    /// shape needs, or when converting the elements to 4-byte values would go
    /// over `budget`.
    pub fn from_bytes(bytes: Vec<u8>, source: &str, budget: &MemoryBudget) -> Result<Npy> {
        let source = shown(source);
        if !bytes.starts_with(b"\x93NUMPY") {
            return Err(npy_error(
                &source,
                "not an .npy file (no \\x93NUMPY signature at the start)",
            ));
        }
        let (major, minor) = match (bytes.get(6), bytes.get(7)) {
            (Some(&a), Some(&b)) => (a, b),
            _ => {
                return Err(npy_error(
                    &source,
                    "the file is truncated inside its header",
                ))
            }
        };
        let (len_bytes, header_start) = match major {
            1 => (2usize, 10usize),
            2 | 3 => (4, 12),
            _ => {
                return Err(npy_error(
                    &source,
                    format!(
                        "unsupported .npy format version {major}.{minor} (NumPy writes 1.0 to 3.0)"
                    ),
                ))
            }
        };
        let len_field = bytes
            .get(8..8 + len_bytes)
            .ok_or_else(|| npy_error(&source, "the file is truncated inside its header"))?;
        let header_len = len_field
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let header_end = (header_start as u64)
            .checked_add(header_len)
            .filter(|&end| end <= bytes.len() as u64)
            .ok_or_else(|| {
                npy_error(
                    &source,
                    format!(
                        "the header claims {header_len} bytes but the file has only {} bytes: \
                         it is truncated or not an .npy file",
                        bytes.len()
                    ),
                )
            })? as usize;
        let text = std::str::from_utf8(&bytes[header_start..header_end])
            .map_err(|_| npy_error(&source, "the header is not text"))?;
        let header = parse_header(text).map_err(|m| npy_error(&source, m))?;
        let (dtype, big_endian) = parse_descr(&header.descr).map_err(|m| npy_error(&source, m))?;

        let elements = MemoryBudget::bytes_for(&source, &header.shape, 1)?;
        let needed = MemoryBudget::bytes_for(&source, &header.shape, dtype.size())?;
        let present = (bytes.len() - header_end) as u64;
        if needed != present {
            let what = if needed > present {
                "the file is truncated or its header lies"
            } else {
                "the header disagrees with the data"
            };
            return Err(npy_error(
                &source,
                format!(
                    "{what}: the header claims shape {} of {dtype} ({needed} bytes of data), \
                     but the file ({} bytes) has {present} bytes after the header",
                    shape_text(&header.shape),
                    bytes.len()
                ),
            ));
        }
        budget.check(
            &format!(
                "{source} (shape {}, as 4-byte values)",
                shape_text(&header.shape)
            ),
            elements.saturating_mul(4),
        )?;
        Ok(Npy {
            source,
            dtype,
            big_endian,
            fortran_order: header.fortran_order,
            shape: header.shape,
            bytes,
            data_start: header_end,
        })
    }

    /// The shape from the header (checked against the data).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> NpyDtype {
        self.dtype
    }

    fn data(&self) -> &[u8] {
        self.bytes.get(self.data_start..).unwrap_or(&[])
    }

    /// The elements as `T`, in the file's order, decoding each with `decode`.
    fn elements<T>(&self, decode: impl Fn(&[u8]) -> T) -> Vec<T> {
        self.data()
            .chunks_exact(self.dtype.size())
            .map(decode)
            .collect()
    }

    fn array<T: Clone>(&self, data: Vec<T>) -> Result<ArrayD<T>> {
        let shape = IxDyn(&self.shape);
        let array = if self.fortran_order {
            ArrayD::from_shape_vec(shape.f(), data).map(|a| a.as_standard_layout().into_owned())
        } else {
            ArrayD::from_shape_vec(shape, data)
        };
        array.map_err(|e| {
            npy_error(
                &self.source,
                format!("shape {}: {e}", format_dims(&self.shape)),
            )
        })
    }

    /// Each element as `f64` (exact for every integer type up to 2^53 and for
    /// float32/float64), or `None` for bool and float16.
    fn as_f64(&self) -> Option<Vec<f64>> {
        let be = self.big_endian;
        macro_rules! num {
            ($t:ty) => {
                self.elements(|c| {
                    let mut a = [0u8; std::mem::size_of::<$t>()];
                    a.copy_from_slice(c);
                    (if be {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    }) as f64
                })
            };
        }
        Some(match self.dtype {
            NpyDtype::I8 => num!(i8),
            NpyDtype::I16 => num!(i16),
            NpyDtype::I32 => num!(i32),
            NpyDtype::I64 => num!(i64),
            NpyDtype::U8 => num!(u8),
            NpyDtype::U16 => num!(u16),
            NpyDtype::U32 => num!(u32),
            NpyDtype::U64 => num!(u64),
            NpyDtype::F32 => num!(f32),
            NpyDtype::F64 => num!(f64),
            NpyDtype::Bool | NpyDtype::F16 | NpyDtype::Unicode(_) => return None,
        })
    }

    /// Each integer element as `i128`, or `None` for a non-integer type.
    fn as_i128(&self) -> Option<Vec<i128>> {
        let be = self.big_endian;
        macro_rules! int {
            ($t:ty) => {
                self.elements(|c| {
                    let mut a = [0u8; std::mem::size_of::<$t>()];
                    a.copy_from_slice(c);
                    i128::from(if be {
                        <$t>::from_be_bytes(a)
                    } else {
                        <$t>::from_le_bytes(a)
                    })
                })
            };
        }
        Some(match self.dtype {
            NpyDtype::I8 => int!(i8),
            NpyDtype::I16 => int!(i16),
            NpyDtype::I32 => int!(i32),
            NpyDtype::I64 => int!(i64),
            NpyDtype::U8 => int!(u8),
            NpyDtype::U16 => int!(u16),
            NpyDtype::U32 => int!(u32),
            NpyDtype::U64 => int!(u64),
            _ => return None,
        })
    }

    /// The array as float32: float32 as is, float64 and integers converted
    /// (as NumPy's `astype(np.float32)` does). Bool and float16 are refused.
    pub fn to_f32(&self) -> Result<ArrayD<f32>> {
        let values = self.as_f64().ok_or_else(|| {
            npy_error(
                &self.source,
                format!("holds {} values, not numbers tensorweave converts to float32 (save it as float32)", self.dtype),
            )
        })?;
        self.array(values.into_iter().map(|v| v as f32).collect())
    }

    /// The array as int32: any integer type whose values are all within
    /// int32's range. Floats and bools are refused.
    pub fn to_i32(&self) -> Result<ArrayD<i32>> {
        let values = self.as_i128().ok_or_else(|| {
            npy_error(
                &self.source,
                format!(
                    "holds {} values, not integers (save it as int32 or int64)",
                    self.dtype
                ),
            )
        })?;
        let mut out = Vec::with_capacity(values.len());
        for v in values {
            out.push(i32::try_from(v).map_err(|_| {
                npy_error(&self.source, format!("holds {v}, outside int32's range"))
            })?);
        }
        self.array(out)
    }

    /// The array as text: NumPy `str` (`<U<n>`) data, each element's UTF-32
    /// code units with NumPy's trailing NUL padding removed. Other dtypes and
    /// code units that are no Unicode scalar value are refused.
    pub fn to_strings(&self) -> Result<ArrayD<String>> {
        let NpyDtype::Unicode(width) = self.dtype else {
            return Err(npy_error(
                &self.source,
                format!(
                    "holds {} values, not text (save it as a NumPy str array)",
                    self.dtype
                ),
            ));
        };
        let count: usize = self.shape.iter().product();
        if width == 0 {
            return self.array(vec![String::new(); count]);
        }
        let be = self.big_endian;
        let mut out = Vec::with_capacity(count);
        for (k, element) in self.data().chunks_exact(width * 4).enumerate() {
            let mut units: Vec<u32> = element
                .chunks_exact(4)
                .map(|c| {
                    let a = [c[0], c[1], c[2], c[3]];
                    if be {
                        u32::from_be_bytes(a)
                    } else {
                        u32::from_le_bytes(a)
                    }
                })
                .collect();
            while units.last() == Some(&0) {
                units.pop();
            }
            let text: Option<String> = units.iter().map(|&u| char::from_u32(u)).collect();
            out.push(text.ok_or_else(|| {
                npy_error(
                    &self.source,
                    format!("element {k} holds a code unit that is not a Unicode character"),
                )
            })?);
        }
        self.array(out)
    }

    /// The array as bool; only `|b1` data is taken, and each byte must be 0 or 1.
    pub fn to_bool(&self) -> Result<ArrayD<bool>> {
        if self.dtype != NpyDtype::Bool {
            return Err(npy_error(
                &self.source,
                format!("holds {} values, not bool", self.dtype),
            ));
        }
        let mut out = Vec::with_capacity(self.data().len());
        for &b in self.data() {
            out.push(match b {
                0 => false,
                1 => true,
                other => {
                    return Err(npy_error(
                        &self.source,
                        format!("holds the byte {other} where a bool (0 or 1) belongs"),
                    ))
                }
            });
        }
        self.array(out)
    }
}

/// `(1000000000000, 10)` as NumPy shows a shape.
fn shape_text(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The three keys of an `.npy` header.
struct Header {
    descr: String,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// The dtype of a `descr` string and whether it is big-endian.
fn parse_descr(descr: &str) -> std::result::Result<(NpyDtype, bool), String> {
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('=', descr),
    };
    let dtype = match code {
        "b1" | "?" => NpyDtype::Bool,
        "i1" => NpyDtype::I8,
        "i2" => NpyDtype::I16,
        "i4" => NpyDtype::I32,
        "i8" => NpyDtype::I64,
        "u1" => NpyDtype::U8,
        "u2" => NpyDtype::U16,
        "u4" => NpyDtype::U32,
        "u8" => NpyDtype::U64,
        "f2" => NpyDtype::F16,
        "f4" => NpyDtype::F32,
        "f8" => NpyDtype::F64,
        unicode if unicode.starts_with('U') => match unicode[1..].parse::<usize>() {
            Ok(n) if n <= 1 << 20 => NpyDtype::Unicode(n),
            _ => {
                return Err(format!(
                    "dtype '{}' is not a str width tensorweave reads (U0 to U1048576)",
                    shown(descr)
                ))
            }
        },
        _ => {
            return Err(format!(
                "dtype '{}' is not supported (use bool, an integer type, float32, float64 or str)",
                shown(descr)
            ))
        }
    };
    Ok((dtype, order == '>' && dtype.size() > 1))
}

/// Parses NumPy's header, a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let mut p = Parser {
        s: text.trim_end().as_bytes(),
        i: 0,
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    p.expect(b'{')?;
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.skip_ws();
        p.expect(b':')?;
        p.skip_ws();
        match key.as_str() {
            "descr" => {
                if p.peek() == Some(b'[') {
                    return Err(
                        "the array has a structured dtype (record fields), which is not supported"
                            .to_string(),
                    );
                }
                descr = Some(p.string()?);
            }
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => return Err(format!("the header has an unknown key '{}'", shown(other))),
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.skip_ws();
            p.expect(b'}')?;
            break;
        }
    }
    Ok(Header {
        descr: descr.ok_or("the header has no 'descr'")?,
        fortran_order: fortran.ok_or("the header has no 'fortran_order'")?,
        shape: shape.ok_or("the header has no 'shape'")?,
    })
}

/// A cursor over the header text.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!(
                "the header is not a NumPy header dict (expected '{}' at character {})",
                c as char, self.i
            ))
        }
    }

    fn string(&mut self) -> std::result::Result<String, String> {
        let quote = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => return Err(format!("the header has no string at character {}", self.i)),
        };
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == quote {
                let s = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                self.i += 1;
                return Ok(s);
            }
            self.i += 1;
        }
        Err("the header has an unterminated string".to_string())
    }

    fn boolean(&mut self) -> std::result::Result<bool, String> {
        let rest = &self.s[self.i..];
        if rest.starts_with(b"True") {
            self.i += 4;
            Ok(true)
        } else if rest.starts_with(b"False") {
            self.i += 5;
            Ok(false)
        } else {
            Err("the header's 'fortran_order' is neither True nor False".to_string())
        }
    }

    fn tuple(&mut self) -> std::result::Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            self.skip_ws();
            if self.eat(b')') {
                return Ok(dims);
            }
            let start = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
            if digits.is_empty() {
                return Err(format!(
                    "the header's 'shape' is not a tuple of sizes (character {})",
                    self.i
                ));
            }
            // A trailing `L` (Python 2's long) is accepted as NumPy does.
            self.eat(b'L');
            let d: usize = digits.parse().map_err(|_| {
                format!(
                    "the header's shape has a dimension {} too large to count",
                    shown(digits)
                )
            })?;
            dims.push(d);
            if dims.len() > 64 {
                return Err("the header's shape has more than 64 dimensions".to_string());
            }
            self.skip_ws();
            if !self.eat(b',') {
                self.skip_ws();
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests;
