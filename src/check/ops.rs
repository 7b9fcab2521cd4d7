//! The built-in ops, as an enum resolved once from a call's name. Every
//! place that treats ops differently (the checker's dispatch, the static
//! checks of arguments, `invert`) matches on [`Builtin`], so adding an op is
//! an arm here and the compiler names every `match` that lacks it.

/// A built-in op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    Transpose,
    Permute,
    Reshape,
    Split,
    Concat,
    Stack,
    Unstack,
    Slice,
    Cast,
    Add,
    Mul,
}

/// How an op treats the values a pipeline carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Each value on its own, one value out.
    EachValue,
    /// One value in, several out (`split`).
    OneToMany,
    /// All values in, one out (`concat`).
    ManyToOne,
    /// Values regrouped across bindings (`stack`, `unstack`).
    AcrossBindings,
}

impl Builtin {
    /// Every built-in op, in the order the documentation lists them.
    pub const ALL: [Builtin; 11] = [
        Builtin::Transpose,
        Builtin::Permute,
        Builtin::Reshape,
        Builtin::Split,
        Builtin::Concat,
        Builtin::Stack,
        Builtin::Unstack,
        Builtin::Slice,
        Builtin::Cast,
        Builtin::Add,
        Builtin::Mul,
    ];

    /// The name a mapping calls it by.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Transpose => "transpose",
            Builtin::Permute => "permute",
            Builtin::Reshape => "reshape",
            Builtin::Split => "split",
            Builtin::Concat => "concat",
            Builtin::Stack => "stack",
            Builtin::Unstack => "unstack",
            Builtin::Slice => "slice",
            Builtin::Cast => "cast",
            Builtin::Add => "add",
            Builtin::Mul => "mul",
        }
    }

    /// The op a name calls, if it is built in.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|op| op.name() == name)
    }

    /// How it treats the pipeline's values.
    pub fn shape(self) -> Shape {
        match self {
            Builtin::Split => Shape::OneToMany,
            Builtin::Concat => Shape::ManyToOne,
            Builtin::Stack | Builtin::Unstack => Shape::AcrossBindings,
            Builtin::Transpose
            | Builtin::Permute
            | Builtin::Reshape
            | Builtin::Slice
            | Builtin::Cast
            | Builtin::Add
            | Builtin::Mul => Shape::EachValue,
        }
    }

    /// Whether its first argument may be a bare name that is no `let`: a
    /// capture (`stack(e)`, `unstack(e)`) or a dtype (`cast(bf16)`).
    pub fn takes_a_name(self) -> bool {
        match self {
            Builtin::Stack | Builtin::Unstack | Builtin::Cast => true,
            Builtin::Transpose
            | Builtin::Permute
            | Builtin::Reshape
            | Builtin::Split
            | Builtin::Concat
            | Builtin::Slice
            | Builtin::Add
            | Builtin::Mul => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_is_found_by_its_name_and_no_other() {
        for op in Builtin::ALL {
            assert_eq!(Builtin::from_name(op.name()), Some(op));
        }
        assert_eq!(Builtin::from_name("transposed"), None);
        assert_eq!(Builtin::from_name(""), None);
        let mut names: Vec<&str> = Builtin::ALL.iter().map(|op| op.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Builtin::ALL.len());
    }
}
