//! jambonz: answers as JSON verbs.

pub mod verbs;
