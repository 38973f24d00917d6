//! Typed ids: a conference id cannot be passed where a customer id is wanted. Each is a UUID
//! that prints, parses and serializes as its lowercase hyphenated form.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            /// "No id" (the nil UUID).
            pub const fn nil() -> Self {
                $name(Uuid::nil())
            }

            pub fn is_nil(&self) -> bool {
                self.0.is_nil()
            }

            /// Parses the hyphenated (or simple) form.
            pub fn parse(s: &str) -> Option<Self> {
                Uuid::parse_str(s).ok().map($name)
            }

            pub fn uuid(&self) -> Uuid {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                $name(u)
            }
        }
    };
}

id_type!(
    /// A customer (tenant).
    CustomerId
);
id_type!(
    /// A conference.
    ConferenceId
);
id_type!(
    /// A conferencecall: one call's stay in one conference.
    ConferencecallId
);
id_type!(
    /// A recording of a conference.
    RecordingId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_and_parse_as_uuids() {
        let id = ConferenceId::new();
        assert_eq!(ConferenceId::parse(&id.to_string()), Some(id));
        assert_eq!(
            serde_json::to_string(&ConferenceId::nil()).ok().as_deref(),
            Some("\"00000000-0000-0000-0000-000000000000\"")
        );
        assert!(CustomerId::parse("not a uuid").is_none());
    }
}
