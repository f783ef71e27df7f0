//! Terms of a complaint's free text and the keywords of a set of complaints.
//!
//! A text is segmented by jieba (its default dictionary plus [`DOMAIN_WORDS`] and the words from
//! configuration), each word is cleaned (full-width Latin and digits made ASCII, lower-cased,
//! punctuation trimmed) and dropped when it carries no meaning: a stop word, a number, a single
//! character outside [`MEANINGFUL_SINGLE_CHARACTERS`]. There is deliberately no part-of-speech
//! filter: jieba tags 续航 as a person's name (`nr`), and a filter on nouns would drop it.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use jieba_rs::Jieba;
use serde::{Deserialize, Serialize};

use crate::lexicon::{DEGREE_PREFIXES, DOMAIN_WORDS, MEANINGFUL_SINGLE_CHARACTERS, STOP_WORDS, is_quantity};

/// Segmenter with the desk's domain dictionary and stop words. Building one loads jieba's
/// dictionary (about a tenth of a second and some tens of MB), so build it once at start-up and
/// share it: it is `Send + Sync` and every method takes `&self`.
#[derive(Clone)]
pub struct Keywords {
    /// jieba with the default dictionary, the domain words and the configured extra words.
    jieba: Jieba,
    /// The domain and extra words, lower-cased: kept even when they look like a number (12315)
    /// or are a single character an operator configured on purpose.
    protected: HashSet<String>,
    /// The length in characters of the longest protected word: how far from either end of a
    /// term a domain word can be split off.
    longest_protected: usize,
    /// [`STOP_WORDS`], for lookup.
    stop: HashSet<&'static str>,
}

impl fmt::Debug for Keywords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keywords")
            .field("jieba", &self.jieba)
            .field("protected_words", &self.protected.len())
            .field("stop_words", &self.stop.len())
            .finish()
    }
}

/// One keyword of a set of texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keyword {
    /// The term, as [`Keywords::terms`] gives it.
    pub term: String,
    /// How many of the texts contain it.
    pub cases: u32,
    /// Its TF-IDF: the share of the texts that contain it times its inverse document frequency
    /// over the background (see [`Keywords::top`]). Only comparable within one ranking.
    pub score: f64,
}

/// In how many texts of a background each term occurs: the "DF" of TF-IDF. Counting it
/// segments every background text, so when several sets are ranked against the same period
/// (one per category), count it once with [`Keywords::document_frequencies`] and rank each set
/// with [`Keywords::top_against`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFrequencies {
    /// How many texts the background has.
    documents: u32,
    /// Per term, how many of them contain it.
    counts: HashMap<String, u32>,
}

impl DocumentFrequencies {
    /// How many texts the background has.
    pub fn documents(&self) -> u32 {
        self.documents
    }

    /// How many background texts contain `term`.
    pub fn of(&self, term: &str) -> u32 {
        self.counts.get(term).copied().unwrap_or(0)
    }

    /// The smoothed inverse document frequency `ln((1 + N) / (1 + df)) + 1`: 1 for a term in
    /// every background text, larger the rarer the term, finite for a term the background lacks
    /// and for an empty background.
    pub fn idf(&self, term: &str) -> f64 {
        let documents = f64::from(self.documents);
        let df = f64::from(self.of(term));
        ((1.0 + documents) / (1.0 + df)).ln() + 1.0
    }
}

impl Keywords {
    /// The default dictionary plus [`DOMAIN_WORDS`] and `extra_words` from configuration
    /// (trimmed; blank entries are ignored). A word is added with the frequency jieba suggests
    /// to keep it whole, so 定损 is one term and not 定 / 损, 送车上门 one and not 送车 / 上门.
    ///
    /// The extra words are kept as terms even when they are a single character or look like a
    /// number; a stop word stays a stop word even if configured.
    pub fn new(extra_words: &[String]) -> Self {
        let mut jieba = Jieba::new();
        let mut protected = HashSet::new();
        let words = DOMAIN_WORDS.iter().copied().chain(extra_words.iter().map(|w| w.trim()));
        for word in words.filter(|w| !w.is_empty()) {
            // `None`: the frequency jieba's own `suggest_freq` gives, just enough for the whole
            // word to win over its parts (and never below its frequency in the dictionary).
            jieba.add_word(word, None, None);
            protected.insert(word.to_lowercase());
        }
        let longest_protected = protected.iter().map(|w| w.chars().count()).max().unwrap_or(0);
        Keywords {
            jieba,
            protected,
            longest_protected,
            stop: STOP_WORDS.iter().copied().collect(),
        }
    }

    /// The terms of one text, in order of first occurrence and each once: segmented (jieba
    /// `cut` with HMM, so unknown words such as names are still grouped), Latin lower-cased,
    /// without stop words, punctuation, numbers and single characters that carry no meaning.
    ///
    /// A dictionary word that begins or ends with a domain word counts as that word and the rest
    /// (客服热线 → 客服, 热线; 违章罚款 → 违章, 罚款; 月租金 → 租金), so the desk's words are never
    /// hidden inside a longer one; and a degree adverb glued to a word is taken off (很脏 → 脏).
    pub fn terms(&self, text: &str) -> Vec<String> {
        let text = ascii_from_full_width(text);
        let mut seen = HashSet::new();
        let mut terms = Vec::new();
        for token in self.jieba.cut(&text, true) {
            self.terms_of_word(token.word, |term| {
                if seen.insert(term.clone()) {
                    terms.push(term);
                }
            });
        }
        terms
    }

    /// Hands the terms one segmented word stands for to `emit`, in order: none when it carries no
    /// meaning, two or more when it is a compound of a domain word.
    fn terms_of_word(&self, word: &str, mut emit: impl FnMut(String)) {
        let not_part_of_a_word = |c: char| !c.is_alphanumeric();
        let word = word.to_lowercase();
        // The pieces still to look at, as byte ranges of `word`, last piece at the bottom. Ranges
        // and a stack, not copies and recursion: a token can be very long (a run of digits
        // splitting into 12315 after 12315 …) and must cost time in proportion to its length.
        let mut pieces = vec![(0, word.len())];
        while let Some((start, end)) = pieces.pop() {
            let piece = &word[start..end];
            // Punctuation around a word ("-abc", "e.g.") is not part of it; a word of
            // punctuation or white space only is nothing.
            let start = start + (piece.len() - piece.trim_start_matches(not_part_of_a_word).len());
            let term = piece.trim_matches(not_part_of_a_word);
            let end = start + term.len();
            if term.is_empty() || self.stop.contains(term) {
                continue;
            }
            if self.protected.contains(term) {
                emit(term.to_owned());
                continue;
            }
            if let Some(cut) = self.domain_word_cut(term) {
                pieces.push((start + cut, end));
                pieces.push((start, start + cut));
                continue;
            }
            if let Some(adverb) = self.degree_adverb_len(term) {
                pieces.push((start + adverb, end));
                continue;
            }
            if is_quantity(term) {
                continue;
            }
            let mut chars = term.chars();
            if let (Some(only), None) = (chars.next(), chars.next())
                && !MEANINGFUL_SINGLE_CHARACTERS.contains(&only)
            {
                continue;
            }
            emit(term.to_owned());
        }
    }

    /// Where to cut `term` so that a domain word stands alone: after the longest domain word it
    /// begins with, or else before the longest it ends with; `None` when it does neither (or is
    /// only that word). A byte offset inside `term`.
    fn domain_word_cut(&self, term: &str) -> Option<usize> {
        // Only cuts within the longest domain word's length from either end can match, so a very
        // long token costs a few look-ups, not one per character.
        let near_start: Vec<usize> = term
            .char_indices()
            .skip(1)
            .take(self.longest_protected)
            .map(|(at, _)| at)
            .collect();
        if let Some(&cut) = near_start
            .iter()
            .rev()
            .find(|&&cut| self.protected.contains(&term[..cut]))
        {
            return Some(cut);
        }
        // From the end, nearest first; tried farthest first, so the longest domain word wins.
        let near_end: Vec<usize> = term
            .char_indices()
            .rev()
            .take(self.longest_protected)
            .map(|(at, _)| at)
            .filter(|&at| at > 0)
            .collect();
        near_end
            .iter()
            .rev()
            .find(|&&cut| self.protected.contains(&term[cut..]))
            .copied()
    }

    /// The length in bytes of a degree adverb `term` begins with, when what follows it is a word
    /// of its own: a dictionary word of two or more characters or a meaningful single character.
    fn degree_adverb_len(&self, term: &str) -> Option<usize> {
        let rest = term.strip_prefix(DEGREE_PREFIXES)?;
        let mut chars = rest.chars();
        let is_word = match (chars.next(), chars.next()) {
            (None, _) => false,
            (Some(only), None) => MEANINGFUL_SINGLE_CHARACTERS.contains(&only),
            (Some(_), Some(_)) => self.jieba.has_word(rest),
        };
        is_word.then_some(term.len() - rest.len())
    }

    /// In how many of the `background` texts each term occurs (see [`DocumentFrequencies`]).
    pub fn document_frequencies(&self, background: &[&str]) -> DocumentFrequencies {
        let mut counts: HashMap<String, u32> = HashMap::new();
        for text in background {
            for term in self.terms(text) {
                let count = counts.entry(term).or_insert(0);
                *count = count.saturating_add(1);
            }
        }
        DocumentFrequencies {
            documents: saturating_u32(background.len()),
            counts,
        }
    }

    /// The top `n` keywords of `texts` (for example one category's cases) against `background`
    /// (all texts of the period). A term's score is a TF-IDF: the share of `texts` containing
    /// it, times its inverse document frequency over `background`
    /// ([`DocumentFrequencies::idf`]). So a word found in every complaint of the period ("车",
    /// "客服") ranks below one particular to this set, however often it occurs here. Sorted by
    /// score, highest first, then by term, so the result is deterministic.
    pub fn top(&self, texts: &[&str], background: &[&str], n: usize) -> Vec<Keyword> {
        self.top_against(texts, &self.document_frequencies(background), n)
    }

    /// [`Keywords::top`] with the background's document frequencies counted beforehand.
    pub fn top_against(&self, texts: &[&str], background: &DocumentFrequencies, n: usize) -> Vec<Keyword> {
        let term_sets: Vec<Vec<String>> = texts.iter().map(|text| self.terms(text)).collect();
        rank(&term_sets, background, n)
    }
}

/// The top `n` keywords of texts already segmented into their (per text distinct) terms.
pub(crate) fn rank(term_sets: &[Vec<String>], background: &DocumentFrequencies, n: usize) -> Vec<Keyword> {
    if term_sets.is_empty() || n == 0 {
        return Vec::new();
    }
    let mut cases: HashMap<&str, u32> = HashMap::new();
    for terms in term_sets {
        for term in terms {
            let count = cases.entry(term.as_str()).or_insert(0);
            *count = count.saturating_add(1);
        }
    }
    let texts = term_sets.len() as f64;
    let mut keywords: Vec<Keyword> = cases
        .into_iter()
        .map(|(term, cases)| Keyword {
            term: term.to_owned(),
            cases,
            score: f64::from(cases) / texts * background.idf(term),
        })
        .collect();
    keywords.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.term.cmp(&b.term)));
    keywords.truncate(n);
    keywords
}

/// `text` with full-width ASCII (ＡＰＰ, １２３１５, the ideographic space) turned into ASCII, as
/// Chinese input methods type Latin and digits either way and both must give one term.
fn ascii_from_full_width(text: &str) -> Cow<'_, str> {
    let is_full_width = |c: char| matches!(c, '\u{FF01}'..='\u{FF5E}' | '\u{3000}');
    if !text.chars().any(is_full_width) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\u{3000}' => ' ',
                // The full-width forms are ASCII '!' ..= '~' shifted by 0xFEE0.
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
                other => other,
            })
            .collect(),
    )
}

/// `len` as a count, saturating (a period never has four billion complaints, but no input
/// may make the arithmetic wrap).
pub(crate) fn saturating_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_latin_and_digits_become_ascii() {
        assert_eq!(ascii_from_full_width("ＡＰＰ　１２３１５"), "APP 12315");
        assert!(matches!(ascii_from_full_width("押金"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_keywords_are_shared_between_threads() {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<Keywords>();
    }

    #[test]
    fn idf_is_one_for_a_term_in_every_text_and_grows_as_the_term_gets_rarer() {
        let background = DocumentFrequencies {
            documents: 4,
            counts: HashMap::from([("车".to_owned(), 4), ("押金".to_owned(), 1)]),
        };
        assert!((background.idf("车") - 1.0).abs() < 1e-12);
        assert!(background.idf("押金") > background.idf("车"));
        assert!(background.idf("定损") > background.idf("押金"));
        assert!((DocumentFrequencies::default().idf("车") - 1.0).abs() < 1e-12);
    }
}
