//! Typed ids: the `value` of Mesos' `FrameworkID`, `AgentID`, `TaskID`, `ExecutorID` and
//! `OfferID` as a Rust type each ([`Framework`], [`Agent`], [`Task`], [`Executor`], [`Offer`]),
//! so that one kind of id cannot be passed where another is wanted, with the conversions to and
//! from the protobuf messages in one place. An id reads as a `&str` (`Deref`), so code that only
//! looks at the value takes any of them; a string becomes an id only by saying which kind. Each serializes as its bare string (as Mesos' JSON
//! does not: there an id is `{"value": ...}`, which the [`crate::v1`] messages keep).

use std::borrow::Borrow;
use std::fmt;

use crate::v1;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident => $proto:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The id with this value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value, owned.
            pub fn into_string(self) -> String {
                self.0
            }

            /// As the protobuf message.
            pub fn to_proto(&self) -> v1::$proto {
                v1::$proto {
                    value: self.0.clone(),
                }
            }
        }

        impl From<v1::$proto> for $name {
            fn from(id: v1::$proto) -> Self {
                Self(id.value)
            }
        }

        impl From<&v1::$proto> for $name {
            fn from(id: &v1::$proto) -> Self {
                Self(id.value.clone())
            }
        }

        impl From<$name> for v1::$proto {
            fn from(id: $name) -> Self {
                v1::$proto { value: id.0 }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<String> for $name {
            fn borrow(&self) -> &String {
                &self.0
            }
        }

        // An id reads as its value wherever a `&str` is wanted (never the other way round:
        // a bare string does not become an id of any kind without saying which).
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A framework's id (`FrameworkID.value`), assigned by the master at the first SUBSCRIBE.
    Framework => FrameworkId
);
id_type!(
    /// An agent's id (`AgentID.value`), assigned by the master when the agent registers.
    Agent => AgentId
);
id_type!(
    /// A task's id (`TaskID.value`), chosen by its framework, unique within it.
    Task => TaskId
);
id_type!(
    /// An executor's id (`ExecutorID.value`), chosen by its framework, unique within it.
    Executor => ExecutorId
);
id_type!(
    /// An offer's id (`OfferID.value`), assigned by the master.
    Offer => OfferId
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn ids_convert_to_and_from_their_messages_and_compare_as_strings() {
        let task = Task::new("miner-3");
        let proto: v1::TaskId = task.clone().into();
        assert_eq!(proto.value, "miner-3");
        assert_eq!(Task::from(&proto), task);
        assert_eq!(Task::from(proto), task);
        assert_eq!(task.to_proto().value, "miner-3");
        assert_eq!(task, "miner-3");
        assert_eq!(task.to_string(), "miner-3");
        assert_eq!(Agent::from("a1").as_str(), "a1");
        assert_eq!(Executor::from(String::from("e")).into_string(), "e");
        // A map keyed by ids is looked up by the bare string.
        let by_agent = HashMap::from([(Agent::new("S0"), 2)]);
        assert_eq!(by_agent.get("S0"), Some(&2));
        assert_eq!(by_agent.get(&String::from("S0")), Some(&2));
        // Read as its value.
        let value: &str = &task;
        assert_eq!(value.len(), 7);
    }

    #[test]
    fn ids_serialize_as_their_bare_value() {
        let offer = Offer::new("O-7");
        assert_eq!(serde_json::to_string(&offer).unwrap(), "\"O-7\"");
        let back: Offer = serde_json::from_str("\"O-7\"").unwrap();
        assert_eq!(back, offer);
        let framework: Framework = serde_json::from_str("\"fw\"").unwrap();
        assert_eq!(framework.to_proto(), v1::FrameworkId { value: "fw".into() });
    }
}
