//! The names a fieldless enum is stored and shown by, written once as a table instead of a
//! hand-written `match` each way.

/// Gives a fieldless enum its names: `as_str` (the name it is stored and shown by), `parse`
/// (its inverse), `ALL` (every variant, in the table's order), and `Display` and `Serialize`
/// (both write the name). One table holds both directions, so they cannot disagree.
macro_rules! names {
    ($ty:ident { $($variant:ident = $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in the order of its names table.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name it is stored and shown by.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }

            /// The variant named `s`, if any.
            pub fn parse(s: &str) -> Option<$ty> {
                match s {
                    $($name => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

pub(crate) use names;
