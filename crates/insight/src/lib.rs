//! What complaints say: keywords from Chinese free text, hot spots, evidence briefs.
//!
//! Pure functions for the complaint service's analysis: no I/O, no clock, no database. The
//! service reads its cases and hands their texts and counts in.
//!
//! - [`Keywords`] segments a complaint's text into terms (jieba with the desk's domain words
//!   such as 定损, 押金, 送车上门; stop words, punctuation and numbers removed) and ranks the
//!   keywords of a set of cases by TF-IDF against the whole period ([`Keywords::top`]).
//! - [`hot_spots`] applies the desk's rule: a category up 50 % or more on the previous period
//!   with at least 5 cases ([`HotSpotRule`]).
//! - [`evidence_brief`] says where a hot spot's cases concentrate (stations, vehicles, models,
//!   channels) and picks a few typical cases, so a person can propose a fix.
//! - [`percentile`] gives nearest-rank percentiles of first-response and resolution times.
//!
//! The word lists are in [`lexicon`], public so they can be reviewed and tested.

#![warn(missing_docs)]

mod evidence;
mod hot_spots;
mod keywords;
pub mod lexicon;
mod percentile;

pub use evidence::{CaseFacts, EvidenceBrief, Share, evidence_brief};
pub use hot_spots::{CategoryCount, HotSpot, HotSpotRule, hot_spots};
pub use keywords::{DocumentFrequencies, Keyword, Keywords};
pub use percentile::percentile;
